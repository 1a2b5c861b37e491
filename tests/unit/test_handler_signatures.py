"""The suite's memo of Litestar's handler parsing (tests/handler_signatures.py) gives what a
fresh parse would, and never lends one app's objects to another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar._signature.model import SignatureModel
from litestar.handlers import HTTPRouteHandler
from litestar.utils.signature import ParsedSignature

from tests.config import app_settings
from tests.handler_signatures import SignatureMemo
from waymark.app import create_app


def _handlers(app: Any) -> list[HTTPRouteHandler]:
    return [h for route in app.routes for h in getattr(route, "route_handlers", [])]


def test_a_second_app_gets_what_a_fresh_parse_gives(
    handler_signatures: SignatureMemo, tmp_path: Path
) -> None:
    def settings(name: str) -> Any:
        url = f"sqlite+aiosqlite:///{tmp_path / name}.sqlite"
        return app_settings(database_url=url, var_dir=tmp_path / name)

    create_app(settings("first"))
    hits = handler_signatures.hits
    second = create_app(settings("second"))
    handlers = _handlers(second)
    assert len(handlers) > 300
    assert handler_signatures.hits - hits >= 2 * len(handlers)  # each one's parse and model
    for handler in handlers:
        fresh = handler_signatures._parse(
            ParsedSignature, handler.fn, handler.resolve_signature_namespace()
        )
        assert handler.parsed_fn_signature == fresh, handler
        model = handler.signature_model
        fresh_model = handler_signatures._create(
            SignatureModel,
            handler.dependency_name_set,
            handler.fn,
            fresh,
            handler.resolve_type_decoders(),
            handler.resolve_data_dto(),
        )
        assert model.__struct_fields__ == fresh_model.__struct_fields__, handler
        assert model.__annotations__ == fresh_model.__annotations__, handler


def test_a_default_that_is_one_apps_object_is_never_shared(
    handler_signatures: SignatureMemo,
) -> None:
    def route(service: object) -> Any:
        async def handler(limit: int = 20, service: object = service) -> None: ...

        return handler

    first, second = object(), object()
    one = ParsedSignature.from_fn(route(first), {})
    again = ParsedSignature.from_fn(route(first), {})
    other = ParsedSignature.from_fn(route(second), {})
    assert again is one  # same code, same defaults: the memo's
    assert other is not one
    assert other.parameters["service"].default is second
