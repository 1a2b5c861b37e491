"""The outbox relay's and housekeeping's settings (`WAYMARK_OUTBOX__*`,
`WAYMARK_MAINTENANCE__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class OutboxSettings(BaseModel):
    batch_size: int = Field(default=20, ge=1, description="Messages claimed per round.")
    poll_interval: float = Field(default=1.0, gt=0, description="Seconds between idle polls.")
    lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed message stays with its relay."
    )
    handler_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a handler may run; shorter than the lease."
    )
    max_attempts: int = Field(default=12, ge=1, description="Attempts before a message is dead.")
    backoff_base: float = Field(default=5.0, gt=0, description="Seconds before the 1st retry.")
    backoff_cap: float = Field(default=3600.0, gt=0, description="Longest wait between tries.")
    backoff_jitter: float = Field(
        default=0.25, ge=0, lt=1, description="Fraction randomly taken off each wait."
    )


class MaintenanceSettings(BaseModel):
    cron: str = Field(
        default="*/5 * * * *",
        description="When the housekeeping jobs run (a cron expression, UTC): expired "
        "sessions, refresh-token families, rate-limit buckets, email tokens and invites, old "
        "delivered outbox messages and read notifications are deleted. One job each on the "
        "scheduler; `scheduler.cron` overrides one of them by name.",
    )
    outbox_retention_days: float = Field(
        default=7.0,
        ge=0,
        description="Days a delivered outbox message is kept (for diagnosis) before "
        "maintenance deletes it; dead messages are never deleted.",
    )
    notification_retention_days: float = Field(
        default=90.0,
        ge=0,
        description="Days a notification is kept once read before maintenance deletes it "
        "(unread ones stay, up to the cap per account).",
    )
