"""Request and response bodies of webhooks. Requests forbid unknown fields. A secret is in an
answer twice only: when the endpoint is made and when its secret is rotated (`WebhookSecret`);
never in a list or a read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

EVENT_TYPES: tuple[str, ...] = (
    "progress.topic_status_changed",
    "progress.roadmap_completed",
    "teams.membership-changed",
    "teams.invited",
    "teams.reminded",
)
"""The domain events (docs/events.md) a team's endpoint may take, each about the team or
one of its members."""
PING = "ping"

EventType = Literal[
    "progress.topic_status_changed",
    "progress.roadmap_completed",
    "teams.membership-changed",
    "teams.invited",
    "teams.reminded",
]
Url = Annotated[
    str,
    msgspec.Meta(
        min_length=9,
        max_length=2048,
        pattern=r"^[hH][tT][tT][pP][sS]?://[^\s\x00-\x1f\x7f]+$",
        description="An https URL (on port 443) that Waymark posts events to.",
    ),
]
Description = Annotated[
    str,
    msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="A note for you."),
]
Events = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(EVENT_TYPES))]
KeepHours = Annotated[int, msgspec.Meta(ge=0, le=168)]


class _Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class WebhookCreate(_Request):
    url: Url
    events: Events
    description: Description = ""


class WebhookPatch(_Request):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    events: Events | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    """True turns a disabled endpoint back on (its count of failures starts again)."""


class Rotation(_Request):
    keep_previous_hours: KeepHours = 24
    """How long the previous secret still signs (beside the new one): 0 ends it now."""


# -- responses -----------------------------------------------------------------------------


class Webhook(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    team_id: uuid.UUID
    url: str
    description: str
    events: list[str]
    enabled: bool
    failures: int
    """Failed attempts in a row."""
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None
    """While set and in the future, deliveries carry a signature with the previous secret
    too."""
    created_at: datetime
    updated_at: datetime


class WebhookSecret(msgspec.Struct, kw_only=True):
    """The endpoint and its new signing secret: shown this once."""

    webhook: Webhook
    secret: str


class Delivery(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    """Sent as `Waymark-Delivery`: the same across retries."""
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    """The event's (the body's `id`): the same in a redelivery."""
    event: str
    state: Literal["pending", "succeeded", "failed"]
    attempts: int
    response_status: int | None
    response_excerpt: str | None
    latency_ms: int | None
    error: str | None
    redelivery_of: uuid.UUID | None
    created_at: datetime
    attempted_at: datetime | None
