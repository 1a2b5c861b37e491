"""Leader locks: of the schedulers running, one ticks; the others wait to take over.

`acquire()` takes the lock or renews it (True while this scheduler leads); a leader that
dies loses it by itself (the Redis key expires, the PostgreSQL session ends). Leadership is
an economy, not the guarantee: slots are claimed by a unique row (`scheduler.py`), so two
leaders for a moment (a Redis key expiring under a slow leader) still run each slot once.
"""

from __future__ import annotations

import secrets
import zlib
from typing import Protocol

import structlog
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

ADVISORY_KEY = zlib.crc32(b"waymark.scheduler.leader")
"""The PostgreSQL advisory lock's key (a bigint; the same in every process)."""

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class LeaderLock(Protocol):
    async def acquire(self) -> bool:
        """Take or renew the lock; True while this process holds it."""
        ...

    async def release(self) -> None: ...


class SingleProcess:
    """The embedded profile's: one process runs the scheduler, so it always leads. (Should
    several run anyway, the slot rows still keep each slot to one run.)"""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RedisLeader:
    """A key set with NX and an expiry, holding this process's random token; renewed (and
    released) only by the holder, checked in a script."""

    def __init__(self, redis: Redis, *, key: str, ttl_seconds: float) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.token = secrets.token_hex(16)
        self._leading = False

    async def acquire(self) -> bool:
        renewed = await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms)
        leading = bool(renewed) or bool(
            await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms)
        )
        if leading != self._leading:
            log.info("scheduler.leader" if leading else "scheduler.follower", lock="redis")
        self._leading = leading
        return leading

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)
        self._leading = False


class PostgresLeader:
    """A session-level advisory lock held on a connection of its own: it lasts while that
    connection does, and PostgreSQL frees it if the process dies or the connection drops."""

    def __init__(self, engine: AsyncEngine, *, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            try:  # still ours while the session lives
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("scheduler.leader_lost", lock="postgresql")
                await self._drop()
        conn = await self.engine.connect()
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            taken = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            ).scalar_one()
        except Exception:
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        log.info("scheduler.leader", lock="postgresql")
        return True

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            finally:
                await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                await conn.invalidate()
