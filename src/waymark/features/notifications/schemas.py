"""Request and response bodies of notifications. Requests forbid unknown fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from waymark.features.notifications.messages import Kind


class Notification(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: Kind
    text: str
    """What happened, in a sentence."""
    link: str | None
    """Where it is about: a path of this site (`/invites`, `/roadmaps/backend`, ...)."""
    data: dict[str, Any]
    """The ids and names it is about (by kind: `team_id`, `team_name`, `roadmap`, ...)."""
    created_at: datetime
    read_at: datetime | None
    """When it was marked read; null while unread."""


class NotificationPage(msgspec.Struct, kw_only=True):
    """`GET me/notifications`: newest first, a page at a time, with the unread count."""

    items: list[Notification]
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last."""
    unread: int
    """The caller's unread notifications (all of them, not only on this page)."""


class MarkAllRead(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST me/notifications/read`: mark read every notification up to `up_to` (the newest
    one the client has shown), so one that arrived meanwhile stays unread."""

    up_to: uuid.UUID


class Unread(msgspec.Struct, kw_only=True):
    unread: int
    """The caller's unread notifications after the change."""
