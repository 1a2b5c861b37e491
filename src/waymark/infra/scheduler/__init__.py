"""Scheduled jobs: cron schedules in time zones, run once per slot across any number of
schedulers (see `scheduler.py`), through the outbox."""

from __future__ import annotations

from waymark.infra.scheduler.cron import CronSchedule, InvalidSchedule
from waymark.infra.scheduler.jobs import (
    CatchUp,
    ScheduledHandler,
    ScheduledJob,
    ScheduledJobs,
    ScheduledRun,
    at_slot,
)
from waymark.infra.scheduler.leaders import LeaderLock, PostgresLeader, RedisLeader, SingleProcess
from waymark.infra.scheduler.scheduler import JobStatus, Scheduler, SlotOutcome

__all__ = [
    "CatchUp",
    "CronSchedule",
    "InvalidSchedule",
    "JobStatus",
    "LeaderLock",
    "PostgresLeader",
    "RedisLeader",
    "ScheduledHandler",
    "ScheduledJob",
    "ScheduledJobs",
    "ScheduledRun",
    "Scheduler",
    "SingleProcess",
    "SlotOutcome",
    "at_slot",
]
