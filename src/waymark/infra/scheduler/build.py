"""The scheduler of one profile: its leader lock is Redis's when `WAYMARK_REDIS_URL` is set,
else a PostgreSQL advisory lock, else (SQLite, embedded) none: one process runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from waymark.infra.outbox import Outbox
from waymark.infra.redis import create_redis
from waymark.infra.scheduler.jobs import ScheduledJobs
from waymark.infra.scheduler.leaders import LeaderLock, PostgresLeader, RedisLeader, SingleProcess
from waymark.infra.scheduler.scheduler import Scheduler
from waymark.infra.sql.database import Database
from waymark.settings import Settings


def build_scheduler(
    settings: Settings,
    db: Database,
    outbox: Outbox,
    jobs: ScheduledJobs,
    *,
    clock: Callable[[], datetime],
) -> tuple[Scheduler, Callable[[], Awaitable[None]]]:
    """The scheduler, and what releases what it opened (a Redis client). No I/O."""
    config = settings.scheduler
    leader: LeaderLock
    close: Callable[[], Awaitable[None]] = _nothing
    if settings.redis_url:
        redis = create_redis(settings.redis_url, settings.redis)
        leader = RedisLeader(
            redis,
            key=f"{settings.redis.key_prefix}scheduler:leader",
            ttl_seconds=config.leader_ttl_seconds,
        )
        close = redis.aclose
    elif not db.is_sqlite:
        leader = PostgresLeader(db.engine)
    else:
        leader = SingleProcess()
    scheduler = Scheduler(
        db,
        outbox,
        jobs,
        leader=leader,
        grace=timedelta(seconds=config.grace_seconds),
        tick_seconds=config.tick_seconds,
        clock=clock,
    )
    return scheduler, close


async def _nothing() -> None:
    return None
