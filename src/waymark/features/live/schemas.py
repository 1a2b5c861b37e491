"""Response bodies of the live feature's REST routes."""

from __future__ import annotations

import uuid

import msgspec


class OnlineMember(msgspec.Struct, kw_only=True):
    account_id: uuid.UUID
    display_name: str


class TeamPresence(msgspec.Struct, kw_only=True):
    """`GET /teams/{id}/presence`: who of the team follows its live channel now (an SSE
    stream, a Socket.IO connection), on any process; `presence.changed` on `team:{id}` tells
    of changes (docs/live.md)."""

    online: list[OnlineMember]
    """By display name."""
