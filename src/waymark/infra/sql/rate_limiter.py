"""The embedded rate limiter: GCRA in an SQL table, one row per key (see
`waymark.infra.ephemeral` for the rule both adapters follow).

Each hit is one short transaction. On SQLite `Database.transaction()` begins IMMEDIATE, so
hits queue on the database lock; on PostgreSQL a hit locks its row first (`SELECT ... FOR
UPDATE`). Drained rows are deleted by `purge_expired(now)`.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from waymark.infra.ephemeral import check_rate_limit, gcra
from waymark.infra.sql.database import Database
from waymark.infra.sql.ephemeral_tables import ephemeral_rate_limits
from waymark.kernel.ports import RateLimitDecision


def _insert_ignoring_conflicts(db: Database) -> Insert:
    table = ephemeral_rate_limits
    stmt = sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)
    return stmt.on_conflict_do_nothing()


class SqlRateLimiter:
    """GCRA with one row per key: the level in use as of `last_at`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hit(
        self, key: str, *, limit: int, period: float, now: float, cost: int = 1
    ) -> RateLimitDecision:
        check_rate_limit(limit=limit, period=period, cost=cost)
        t = ephemeral_rate_limits
        locked = select(t.c.last_at, t.c.level).where(t.c.key == key).with_for_update()
        async with self._db.transaction() as conn:
            row = (await conn.execute(locked)).first()
            if row is None:
                # An absent key is an empty bucket. Create it so there is a row to lock; if a
                # concurrent first hit created it already, wait for it and lock that one.
                await conn.execute(
                    _insert_ignoring_conflicts(self._db).values(
                        key=key, last_at=now, level=0.0, expires_at=now
                    )
                )
                row = (await conn.execute(locked)).one()
            decision, level = gcra(
                level=row.level, last=row.last_at, limit=limit, period=period, now=now, cost=cost
            )
            if level is not None:
                last = max(row.last_at, now)
                await conn.execute(
                    update(t)
                    .where(t.c.key == key)
                    .values(last_at=last, level=level, expires_at=last + level)
                )
        return decision

    async def reset(self, key: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                delete(ephemeral_rate_limits).where(ephemeral_rate_limits.c.key == key)
            )

    async def purge_expired(self, now: float) -> int:
        """Delete fully drained keys (they mean the same as no row); returns how many."""
        t = ephemeral_rate_limits
        async with self._db.transaction() as conn:
            result = await conn.execute(delete(t).where(t.c.expires_at <= now))
            return int(result.rowcount)
