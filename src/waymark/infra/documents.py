"""The rules of the document store (`waymark.kernel.ports.DocumentStore`), written once for
every adapter, so that each one accepts exactly what the others can hold: an adapter checks
its arguments here before it touches its database, and refuses with `ValueError`.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from typing import Any

import msgspec

from waymark.kernel.ports import (
    MAX_COLLECTION_LENGTH,
    MAX_DOCUMENT_BYTES,
    MAX_KEY_LENGTH,
    MAX_LOOKUP_KEYS,
    MAX_NESTING,
    MAX_OWNER_LENGTH,
    MAX_SCAN_LIMIT,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_KEY = re.compile(f"[!-~]{{1,{MAX_KEY_LENGTH}}}")
_OWNER = re.compile(f"[!-~]{{1,{MAX_OWNER_LENGTH}}}")
_COLLECTION = re.compile(f"[a-z][a-z0-9-]{{0,{MAX_COLLECTION_LENGTH - 1}}}")
_REVISION = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_owner(owner: str, collection: str | None = None) -> None:
    if not (isinstance(owner, str) and _OWNER.fullmatch(owner)):
        raise ValueError(f"owner {owner!r} is not 1 to {MAX_OWNER_LENGTH} printable characters")
    if collection is not None and not (
        isinstance(collection, str) and _COLLECTION.fullmatch(collection)
    ):
        raise ValueError(f"collection {collection!r} is not a lower-case name")


def check_key(key: str, what: str = "key") -> None:
    if not (isinstance(key, str) and _KEY.fullmatch(key)):
        raise ValueError(f"{what} {key!r} is not 1 to {MAX_KEY_LENGTH} printable characters")


def check_prefix(prefix: str) -> None:
    if prefix:
        check_key(prefix, "prefix")


def check_limit(limit: int) -> None:
    if not (isinstance(limit, int) and 1 <= limit <= MAX_SCAN_LIMIT):
        raise ValueError(f"limit must be 1 to {MAX_SCAN_LIMIT}, got {limit!r}")


def check_revision(revision: str) -> None:
    """A revision as a caller passes it back: anything else matches no document, so it is
    refused rather than compared."""
    if not (isinstance(revision, str) and _REVISION.fullmatch(revision)):
        raise ValueError(f"revision {revision!r} is not one a store hands out")


def lookup_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """The lookup keys as stored: checked, without repeats, in key order."""
    if isinstance(keys, str):  # a str is a Sequence[str] of its characters
        raise ValueError("lookup_keys is a sequence of keys, not one key")
    unique = tuple(sorted(set(keys)))
    if len(unique) > MAX_LOOKUP_KEYS:
        raise ValueError(f"at most {MAX_LOOKUP_KEYS} lookup keys, got {len(unique)}")
    for key in unique:
        check_key(key, "lookup key")
    return unique


def check_body(body: dict[str, Any]) -> None:
    """Refuse a body some adapter could not hold as it is, or would not read back equal."""
    if not isinstance(body, dict):
        raise ValueError("a document's body is a JSON object")
    _check_value(body, depth=0, path="$")
    size = len(msgspec.json.encode(body))
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"a body of {size} bytes is over {MAX_DOCUMENT_BYTES}")


def _check_value(value: Any, *, depth: int, path: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path}: NUL in a string")
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{path}: integer outside int64")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is no JSON number")
    elif isinstance(value, list | dict):
        if depth >= MAX_NESTING:
            raise ValueError(f"{path}: nested deeper than {MAX_NESTING}")
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check_value(item, depth=depth + 1, path=f"{path}[{i}]")
            return
        for name, item in value.items():
            if not isinstance(name, str) or not name or name[0] == "$" or "." in name:
                raise ValueError(f"{path}: field name {name!r} (non-empty, no `$` first, no `.`)")
            if "\x00" in name:
                raise ValueError(f"{path}: NUL in a field name")
            _check_value(item, depth=depth + 1, path=f"{path}.{name}")
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not a JSON value")


def new_revision() -> str:
    """128 random bits, URL-safe: never the same twice, so never one a key held before."""
    return secrets.token_urlsafe(16)
