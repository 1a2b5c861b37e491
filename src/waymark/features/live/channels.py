"""Channel names, and the cursor a client resumes from.

A stream follows several channels; each has its own event ids. The id a client is given
with every event (SSE `id:`, the `Last-Event-ID` it sends back) is a *cursor*: every
channel's last id at that point, as base64url of a JSON object `{channel: id}`. It is not
secret and not trusted: the channels a stream follows are decided by who asks (and checked),
never by the cursor; a cursor only says where each of those resumes.
"""

from __future__ import annotations

import base64
import binascii
import uuid

import msgspec

MAX_CURSOR_LENGTH = 4096
USER = "user:"
TEAM = "team:"


def user_channel(account_id: uuid.UUID | str) -> str:
    return f"{USER}{account_id}"


def team_channel(team_id: uuid.UUID | str) -> str:
    return f"{TEAM}{team_id}"


def team_of(channel: str) -> uuid.UUID | None:
    if not channel.startswith(TEAM):
        return None
    return uuid.UUID(channel[len(TEAM) :])


def encode_cursor(positions: dict[str, str]) -> str:
    raw = msgspec.json.encode(positions, order="sorted")  # one per stream per event
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> dict[str, str] | None:
    """The positions in `cursor`; None if it is not one of ours (the client must refetch)."""
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=dict[str, str])
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        return None
