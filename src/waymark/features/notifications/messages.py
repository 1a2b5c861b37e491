"""What notifications announce: `notifications.created` (docs/events.md), published through
the outbox in the transaction that writes the notification, so live delivery (a later step:
SSE, WebSocket, Socket.IO) tells a browser only about what committed."""

from __future__ import annotations

from typing import Literal

import msgspec

NOTIFICATION_CREATED = "notifications.created"

Kind = Literal["team-invite", "teammate-finished", "team-reminder"]
KINDS: tuple[Kind, ...] = ("team-invite", "teammate-finished", "team-reminder")


class NotificationCreated(msgspec.Struct, frozen=True, kw_only=True):
    """`notifications.created`, version 1: an account has a new notification."""

    version: Literal[1] = 1
    notification_id: str
    account_id: str
    kind: Kind
    unread: int
    """The account's unread notifications, this one included."""
