"""What notifications announce (docs/events.md), published through the outbox in the
transaction of the change, so live delivery (`features/live/jobs.py`: the account's channel)
tells a browser only about what committed: `notifications.created` when an account has a new
notification, `notifications.read` when it marked some read."""

from __future__ import annotations

from typing import Literal

import msgspec

NOTIFICATION_CREATED = "notifications.created"
NOTIFICATIONS_READ = "notifications.read"

Kind = Literal["team-invite", "teammate-finished", "team-reminder", "streak-ended"]
KINDS: tuple[Kind, ...] = ("team-invite", "teammate-finished", "team-reminder", "streak-ended")


class NotificationCreated(msgspec.Struct, frozen=True, kw_only=True):
    """`notifications.created`, version 1: an account has a new notification."""

    version: Literal[1] = 1
    notification_id: str
    account_id: str
    kind: Kind
    unread: int
    """The account's unread notifications, this one included."""


class NotificationsRead(msgspec.Struct, frozen=True, kw_only=True):
    """`notifications.read`, version 1: an account marked one or more notifications read."""

    version: Literal[1] = 1
    account_id: str
    unread: int
    """The account's unread notifications after the change."""
