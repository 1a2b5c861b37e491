"""The scheduler's settings (`WAYMARK_SCHEDULER__*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SchedulerSettings(BaseModel):
    in_process: bool | None = Field(
        default=None,
        description="Whether `waymark serve` runs the scheduler in each server process. "
        "Unset: yes in the embedded profile (SQLite), no in production, where "
        "`waymark scheduler` runs it (as many as you like: one leads, each slot runs once).",
    )
    tick_seconds: float = Field(
        default=1.0, gt=0, description="Longest wait between two looks at what is due."
    )
    grace_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A slot enqueued later than this after its time counts as missed, and "
        "its job's catch-up policy applies (run once, or skip).",
    )
    leader_ttl_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How long the Redis leader key outlives a leader that stopped renewing "
        "it (a follower takes over after that).",
    )
    history_days: float = Field(
        default=30.0, ge=0, description="Days a slot's row is kept (a job's last one always)."
    )
    digest_at: str = Field(
        default="0 8 * * 1",
        description="When the weekly progress digest mail goes, as a cron expression read in "
        "each learner's own time zone (Mondays 08:00 by default). The `progress-digest` job "
        "runs every 15 minutes and mails whoever's time has come.",
    )
    cron: dict[str, str] = Field(
        default={},
        description="Cron expressions replacing jobs' own, by job name: "
        '`WAYMARK_SCHEDULER__CRON=\'{"notes-link-check": "0 4 * * *"}\'`.',
    )
