"""Each route handler's signature parsed once per test worker, not once per app.

Litestar parses a handler's signature (its type hints, evaluated from strings) and builds a
msgspec model of its parameters as an app registers it: about a third of `create_app`, and
the suite makes an app per test from the same handler code. Both steps are pure functions of
what they are given, so this plugin memoizes them, by exactly that:

- a signature by the function's code, its module's globals, its default values (compared by
  value: a default that is an object of one app, such as a service, compares by identity and
  so is never shared) and the names the annotations resolve in;
- a parameter model by the parsed signature (so by all of the above), the dependency names,
  the type decoders (a `partial` by its function and arguments) and the DTO.

Nothing else of the app is shared: handlers, routes, services, state are each app's own, and
what the memo returns is what the parse would (tests/unit/test_handler_signatures.py checks
both against a fresh parse). Production makes one app per process and parses once anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from types import FunctionType
from typing import Any

import pytest
from litestar._signature.model import SignatureModel
from litestar.utils.signature import ParsedSignature


class SignatureMemo:
    """Litestar's two steps, each given the class it was called on (as a classmethod is)."""

    def __init__(self, parse: Callable[..., Any], create: Callable[..., Any]) -> None:
        self._parse = parse
        self._create = create
        self._signatures: dict[Any, list[tuple[tuple[Any, ...], ParsedSignature]]] = {}
        self._parsed: dict[int, ParsedSignature] = {}  # held, so their ids stay theirs
        self._models: dict[tuple[Any, ...], type[SignatureModel]] = {}
        self.hits = 0

    def parsed(self, cls: type[ParsedSignature], fn: Any, namespace: dict[str, Any]) -> Any:
        if cls is not ParsedSignature or not isinstance(fn, FunctionType):
            return self._parse(cls, fn, namespace)
        same = (fn.__defaults__, fn.__kwdefaults__, namespace)
        seen = self._signatures.setdefault((fn.__code__, id(fn.__globals__)), [])
        for key, parsed in seen:
            if key == same:
                self.hits += 1
                return parsed
        parsed = self._parse(cls, fn, namespace)
        seen.append((same, parsed))
        self._parsed[id(parsed)] = parsed
        return parsed

    def model(
        self,
        cls: type[SignatureModel],
        dependency_name_set: set[str],
        fn: Any,
        parsed_signature: ParsedSignature,
        type_decoders: Any,
        data_dto: Any = None,
    ) -> Any:
        def create() -> Any:
            return self._create(
                cls, dependency_name_set, fn, parsed_signature, type_decoders, data_dto
            )

        if (
            cls is not SignatureModel
            or self._parsed.get(id(parsed_signature)) is not parsed_signature
        ):
            return create()
        key = (
            id(parsed_signature),
            getattr(fn, "__name__", None),
            getattr(fn, "__module__", None),
            frozenset(dependency_name_set),
            tuple(_comparable(pair) for pair in type_decoders or ()),
            data_dto,
        )
        if key in self._models:
            self.hits += 1
        else:
            self._models[key] = create()
        return self._models[key]


def _comparable(decoder: tuple[Any, Any]) -> tuple[Any, ...]:
    """A (predicate, decoder) pair as a key: plugins make a `partial` per app (the pydantic
    plugin's `_dec_pydantic_v2`), which compares by identity; it is keyed by what it does."""
    return tuple(
        (part.func, part.args, tuple(sorted(part.keywords.items())))
        if isinstance(part, partial)
        else part
        for part in decoder
    )


def install(monkeypatch: pytest.MonkeyPatch) -> SignatureMemo:
    memo = SignatureMemo(
        ParsedSignature.from_fn.__func__,  # type: ignore[attr-defined]
        SignatureModel.create.__func__,  # type: ignore[attr-defined]
    )
    monkeypatch.setattr(ParsedSignature, "from_fn", classmethod(memo.parsed))
    monkeypatch.setattr(SignatureModel, "create", classmethod(memo.model))
    return memo


@pytest.fixture(scope="session", autouse=True)
def handler_signatures() -> Iterator[SignatureMemo]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield install(monkeypatch)
