"""The WebSocket protocol `waymark.live.v1` (docs/live.md, WebSocket): what a client may
send, what the server sends, and the close codes. JSON text frames, each an object whose
`type` says what it is.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from waymark.features.live.channels import MAX_CURSOR_LENGTH
from waymark.features.live.encoded import EncodedEvents
from waymark.features.live.service import CHANNEL_CLOSED, RESYNC_ITEM, Item

SUBPROTOCOL = "waymark.live.v1"

Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Cursor = Annotated[str, msgspec.Meta(max_length=MAX_CURSOR_LENGTH)]
Ref = Annotated[str, msgspec.Meta(max_length=64)]


class _Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    ref: Ref | None = None
    """Anything up to 64 characters: echoed in the answer, so a client can match them."""


class Subscribe(_Message, tag="subscribe"):
    channel: Channel
    after: Cursor | None = None


class Unsubscribe(_Message, tag="unsubscribe"):
    channel: Channel


class Ping(_Message, tag="ping"):
    pass


class Pong(_Message, tag="pong"):
    pass


ClientMessage = Subscribe | Unsubscribe | Ping | Pong
CLIENT_MESSAGE: Any = ClientMessage
"""The union as a value to decode into."""


class Close(enum.IntEnum):
    """The close codes the server uses (docs/live.md)."""

    NORMAL = 1000
    SHUTDOWN = 1001
    """The server is stopping: reconnect (to another process) with a new ticket."""
    BINARY = 1003
    """A binary frame: the protocol is JSON text."""
    RATE = 1008
    """The client sent messages faster than `WAYMARK_LIVE__WS_MESSAGES_PER_SECOND`."""
    TOO_BIG = 1009
    """A message over `WAYMARK_LIVE__WS_MAX_MESSAGE_BYTES`."""
    INTERNAL = 1011
    UNAVAILABLE = 1013
    """Live updates are unavailable for now (Redis down): try again later."""
    EXPIRED = 4000
    """Streams end after `WAYMARK_LIVE__STREAM_SECONDS`: reconnect with a new ticket and
    the last cursor."""
    NO_PONG = 4001
    """A `ping` went unanswered for `WAYMARK_LIVE__WS_PONG_TIMEOUT_SECONDS`."""
    SLOW_CONSUMER = 4008
    """The client did not read fast enough (its queue filled, or a send waited past
    `WAYMARK_LIVE__SEND_TIMEOUT_SECONDS`): reconnect with the last cursor."""
    BAD_TICKET = 4401
    """No ticket, or one unknown, used, expired, or of an account that cannot connect."""
    TOO_MANY_STREAMS = 4429
    """The account (or the process) has as many live streams open as it may."""


_encode = msgspec.json.Encoder().encode


def text(message: dict[str, Any]) -> str:
    return _encode(message).decode()


def ready(channels: list[str], cursor: str) -> str:
    return text({"type": "ready", "channels": channels, "cursor": cursor})


def item(found: Item, encoded: EncodedEvents[str] | None = None) -> str:
    """An item of the stream as a frame: `event`, `resync` or `channel-closed`. An event's
    frame but its cursor is every stream's: with `encoded`, made once per process."""
    if found.kind == RESYNC_ITEM:
        return text({"type": "resync", "channel": found.channel, "cursor": found.cursor})
    if found.kind == CHANNEL_CLOSED:
        reason = found.data.get("reason") if isinstance(found.data, dict) else None
        message = {"channel": found.channel, "reason": reason, "cursor": found.cursor}
        return text({"type": "channel-closed", **message})
    shared = _event(found) if encoded is None or not found.id else encoded.get(found, _event)
    # The cursor is base64url: nothing in it to escape.
    return f'{shared[:-1]},"cursor":"{found.cursor}"}}'


def _event(found: Item) -> str:
    """An event's frame without its cursor."""
    return text(
        {
            "type": "event",
            "channel": found.channel,
            "kind": found.kind,
            "id": found.id,
            "data": found.data,
        }
    )


def answer(kind: str, ref: str | None, **fields: Any) -> str:
    message = {"type": kind, **fields}
    if ref is not None:
        message["ref"] = ref
    return text(message)
