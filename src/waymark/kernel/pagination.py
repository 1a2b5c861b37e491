"""Keyset pagination: opaque cursors and one page shape for every list endpoint."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

import msgspec

from waymark.kernel.errors import FieldError, ValidationFailed

T = TypeVar("T")
# Keys are printable: control characters (NUL above all) never reach a database.
_Key = Annotated[str, msgspec.Meta(pattern=r"^[^\x00-\x1f\x7f]*$", max_length=256)]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: str) -> str:
    """Wrap the last item's sort key so clients treat it as opaque."""
    return base64.urlsafe_b64encode(msgspec.json.encode([key])).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> str:
    """The sort key inside a cursor made by `encode_cursor`; anything else is a 422."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (key,) = msgspec.json.decode(raw, type=tuple[_Key])
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise ValidationFailed([FieldError("query.cursor", "not a cursor from this API")]) from None
    return key


def paginate(rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """A page from `limit + 1` fetched rows: the extra row only says a next page exists."""
    items = rows[:limit]
    has_more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(key(items[-1])) if has_more else None)
