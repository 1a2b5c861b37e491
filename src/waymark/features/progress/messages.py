"""What learning progress announces: domain events, published through the outbox in the
transaction of the change (`Outbox.publish`), each payload versioned. Their schemas are
described in docs/events.md, which a test keeps in step with these classes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from waymark.features.progress.schemas import Status

TOPIC_STATUS_CHANGED = "progress.topic_status_changed"
ROADMAP_COMPLETED = "progress.roadmap_completed"


class TopicStatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    """`progress.topic_status_changed`, version 1: one learner moved one topic."""

    version: Literal[1] = 1
    account_id: str
    roadmap: str
    """The roadmap's slug."""
    roadmap_version: int
    topic_id: str
    from_status: Status
    to_status: Status
    seq: int
    """The change's number in the learner's log of this roadmap (1, 2, ...)."""
    at: datetime
    done: int
    learning: int
    skipped: int
    total: int
    request_id: str | None = None


class RoadmapCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """`progress.roadmap_completed`, version 1: every current topic is now done or skipped."""

    version: Literal[1] = 1
    account_id: str
    roadmap: str
    roadmap_version: int
    at: datetime


STREAK_ENDED = "progress.streak_ended"


class StreakEnded(msgspec.Struct, frozen=True, kw_only=True):
    """`progress.streak_ended`, version 1: a learner's run of days with progress ended (a day
    went by without one, in their time zone). Published by the streak roll-over job."""

    version: Literal[1] = 1
    account_id: str
    days: int
    """How long the streak was (2 or more)."""
    last_active_day: date
    """Its last day, in the learner's zone."""


PROGRESS_RESTORED = "progress.restored"


class ProgressRestored(msgspec.Struct, frozen=True, kw_only=True):
    """`progress.restored`, version 1: changes from an export were added to a learner's log
    of one roadmap (at once: no `topic_status_changed` for each)."""

    version: Literal[1] = 1
    account_id: str
    roadmap: str
    roadmap_version: int
    events_added: int
    last_seq: int
    done: int
    learning: int
    skipped: int
    total: int
    at: datetime
