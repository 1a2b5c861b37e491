"""The embedded ephemeral store: rate limits, sessions and refresh families in SQL tables.

These are infrastructure, not services: each port call is one short transaction of its own
(a session touch reads first, and writes only when the session ended or moved on).
On SQLite `Database.transaction()` begins IMMEDIATE, so writers queue on the database lock;
on PostgreSQL every read-modify-write locks its row first (`SELECT ... FOR UPDATE`), and a
concurrent transaction that finds the row changed under it re-reads it (READ COMMITTED).
Expired rows are deleted when a read meets them and by `purge_expired(now)`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Double, Row, Table, case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from waymark.infra.ephemeral import check_rate_limit, expires_at, gcra
from waymark.infra.sql.database import Database
from waymark.infra.sql.ephemeral_tables import (
    ephemeral_rate_limits,
    ephemeral_refresh_families,
    ephemeral_refresh_rotations,
    ephemeral_sessions,
)
from waymark.kernel.ports import (
    TOUCH_GRANULARITY,
    AuthLevel,
    Invalid,
    RateLimitDecision,
    RefreshFamily,
    Reused,
    Rotated,
    RotationResult,
    SessionRecord,
)


def _insert_ignoring_conflicts(db: Database, table: Table) -> Insert:
    stmt = sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)
    return stmt.on_conflict_do_nothing()


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


# -- Rate limits ---------------------------------------------------------------------------


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
                    _insert_ignoring_conflicts(self._db, t).values(
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
            return _rowcount(await conn.execute(delete(t).where(t.c.expires_at <= now)))


# -- Sessions ------------------------------------------------------------------------------


def _session_record(row: Row[Any]) -> SessionRecord:
    return SessionRecord(
        id_hash=row.id_hash,
        user_id=row.user_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        idle_timeout=row.idle_timeout,
        absolute_expires_at=row.absolute_expires_at,
        csrf_token=row.csrf_token,
        ip=row.ip,
        user_agent=row.user_agent,
        auth_level=row.auth_level,
    )


class SqlSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, record: SessionRecord) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                ephemeral_sessions.insert().values(
                    id_hash=record.id_hash,
                    user_id=record.user_id,
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    idle_timeout=record.idle_timeout,
                    absolute_expires_at=record.absolute_expires_at,
                    expires_at=expires_at(
                        last_seen=record.last_seen_at,
                        idle_timeout=record.idle_timeout,
                        absolute_expires_at=record.absolute_expires_at,
                    ),
                    csrf_token=record.csrf_token,
                    ip=record.ip,
                    user_agent=record.user_agent,
                    auth_level=record.auth_level,
                )
            )

    async def touch(self, id_hash: str, *, now: float) -> SessionRecord | None:
        """One read; a write only when the session ended or its recorded activity is
        `TOUCH_GRANULARITY` old (every request of a browser goes through here)."""
        s = ephemeral_sessions
        async with self._db.read() as conn:
            row = (await conn.execute(select(s).where(s.c.id_hash == id_hash))).first()
        if row is None:
            return None
        if now > row.expires_at:
            async with self._db.transaction() as conn:
                # Unless a touch from another process slid it meanwhile.
                await conn.execute(delete(s).where(s.c.id_hash == id_hash, s.c.expires_at < now))
            return None
        record = _session_record(row)
        if now - record.last_seen_at < TOUCH_GRANULARITY:
            return record
        record.last_seen_at = now
        async with self._db.transaction() as conn:
            slid = await conn.execute(
                update(s)
                # A clock a little behind another process's never shortens a session.
                .where(s.c.id_hash == id_hash, s.c.last_seen_at < now)
                .values(
                    last_seen_at=now,
                    expires_at=expires_at(
                        last_seen=now,
                        idle_timeout=record.idle_timeout,
                        absolute_expires_at=record.absolute_expires_at,
                    ),
                )
            )
            if _rowcount(slid) == 0:  # ended, or touched later by another process, meanwhile
                row = (await conn.execute(select(s).where(s.c.id_hash == id_hash))).first()
                return None if row is None else _session_record(row)
        return record

    async def renew(
        self,
        id_hash: str,
        *,
        new_id_hash: str,
        csrf_token: str,
        now: float,
        auth_level: AuthLevel | None = None,
    ) -> SessionRecord | None:
        """One conditional UPDATE of the primary key. Concurrent renewals of one id queue on
        the row (SQLite: the database lock); the later ones find it moved and get None."""
        s = ephemeral_sessions
        # `expires_at(...)` in SQL, on the stored times: the row is read and written at once.
        last_seen = case((s.c.last_seen_at > now, s.c.last_seen_at), else_=literal(now, Double))
        idle_end = last_seen + s.c.idle_timeout
        values: dict[str, Any] = {
            "id_hash": new_id_hash,
            "csrf_token": csrf_token,
            "last_seen_at": last_seen,
            "expires_at": case(
                (idle_end < s.c.absolute_expires_at, idle_end), else_=s.c.absolute_expires_at
            ),
        }
        if auth_level is not None:
            values["auth_level"] = auth_level
        async with self._db.transaction() as conn:
            row = (
                await conn.execute(
                    update(s)
                    .where(s.c.id_hash == id_hash, s.c.expires_at >= now)
                    .values(values)
                    .returning(*s.c)
                )
            ).first()
        return None if row is None else _session_record(row)

    async def delete(self, id_hash: str) -> bool:
        s = ephemeral_sessions
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(delete(s).where(s.c.id_hash == id_hash))) > 0

    async def list_for_user(self, user_id: str, *, now: float) -> list[SessionRecord]:
        s = ephemeral_sessions
        async with self._db.transaction() as conn:
            await conn.execute(delete(s).where(s.c.user_id == user_id, s.c.expires_at < now))
            rows = await conn.execute(
                select(s)
                .where(s.c.user_id == user_id, s.c.expires_at >= now)
                .order_by(s.c.created_at.desc(), s.c.id_hash.desc())
            )
            return [_session_record(row) for row in rows]

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        s = ephemeral_sessions
        stmt = delete(s).where(s.c.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(s.c.id_hash != keep)
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(stmt))

    async def purge_expired(self, now: float) -> int:
        s = ephemeral_sessions
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(delete(s).where(s.c.expires_at < now)))


# -- Refresh-token families ----------------------------------------------------------------


def _family_record(row: Row[Any]) -> RefreshFamily:
    return RefreshFamily(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        idle_timeout=row.idle_timeout,
        absolute_expires_at=row.absolute_expires_at,
        current_hash=row.current_hash,
        ip=row.ip,
        user_agent=row.user_agent,
    )


class SqlRefreshTokenStore:
    """A family row holds the current token hash; rotated hashes point back at their family.

    Rotated rows live as long as their family, so a replay is recognised for the family's
    whole life; the raw successor in them is cleared once its grace window has passed.
    Every writer locks the family row before touching its rotated rows, so concurrent
    writers on PostgreSQL queue instead of deadlocking.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_family(self, family: RefreshFamily) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                ephemeral_refresh_families.insert().values(
                    id=family.id,
                    user_id=family.user_id,
                    created_at=family.created_at,
                    last_used_at=family.last_used_at,
                    idle_timeout=family.idle_timeout,
                    absolute_expires_at=family.absolute_expires_at,
                    expires_at=expires_at(
                        last_seen=family.last_used_at,
                        idle_timeout=family.idle_timeout,
                        absolute_expires_at=family.absolute_expires_at,
                    ),
                    current_hash=family.current_hash,
                    ip=family.ip,
                    user_agent=family.user_agent,
                    revoked=False,
                )
            )

    async def rotate(
        self,
        token_hash: str,
        *,
        successor: str,
        successor_hash: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        f, r = ephemeral_refresh_families, ephemeral_refresh_rotations
        async with self._db.transaction() as conn:
            # Concurrent rotations of one token queue on this row lock; once the first commits,
            # the others no longer match `current_hash` and fall through to the rotated path.
            row = (
                await conn.execute(
                    select(f).where(f.c.current_hash == token_hash).with_for_update()
                )
            ).first()
            if row is not None:
                dead = await self._dead(conn, row, now)
                if dead is not None:
                    return dead
                return await self._rotate_current(
                    conn,
                    row,
                    successor=successor,
                    successor_hash=successor_hash,
                    now=now,
                    grace=grace,
                )

            rotation = (await conn.execute(select(r).where(r.c.token_hash == token_hash))).first()
            if rotation is None:
                return Invalid("unknown")
            row = (
                await conn.execute(select(f).where(f.c.id == rotation.family_id).with_for_update())
            ).first()
            if row is None:
                return Invalid("unknown")
            dead = await self._dead(conn, row, now)
            if dead is not None:
                return dead
            if now - rotation.rotated_at < grace and rotation.successor is not None:
                return Rotated(family=_family_record(row), token=rotation.successor)
            await self._revoke(conn, row.id)
            return Reused(family_id=row.id, user_id=row.user_id)

    async def _dead(self, conn: AsyncConnection, row: Row[Any], now: float) -> Invalid | None:
        """Invalid if the family is revoked or expired (an expired one is deleted)."""
        if row.revoked:
            return Invalid("revoked")
        if now > row.expires_at:
            await self._delete(conn, row.id)
            return Invalid("expired")
        return None

    async def _rotate_current(
        self,
        conn: AsyncConnection,
        row: Row[Any],
        *,
        successor: str,
        successor_hash: str,
        now: float,
        grace: float,
    ) -> Rotated:
        f, r = ephemeral_refresh_families, ephemeral_refresh_rotations
        family = _family_record(row)
        family.last_used_at = max(family.last_used_at, now)
        family.current_hash = successor_hash
        await conn.execute(
            update(f)
            .where(f.c.id == family.id)
            .values(
                current_hash=successor_hash,
                last_used_at=family.last_used_at,
                expires_at=expires_at(
                    last_seen=family.last_used_at,
                    idle_timeout=family.idle_timeout,
                    absolute_expires_at=family.absolute_expires_at,
                ),
            )
        )
        # Raw successors whose grace window has passed have no reason to stay at rest.
        await conn.execute(
            update(r)
            .where(r.c.family_id == family.id, r.c.successor_expires_at <= now)
            .values(successor=None, successor_expires_at=None)
        )
        in_grace = grace > 0
        await conn.execute(
            r.insert().values(
                token_hash=row.current_hash,
                family_id=family.id,
                rotated_at=now,
                successor=successor if in_grace else None,
                successor_expires_at=now + grace if in_grace else None,
            )
        )
        return Rotated(family=family, token=successor)

    async def _revoke(self, conn: AsyncConnection, family_id: str) -> bool:
        f, r = ephemeral_refresh_families, ephemeral_refresh_rotations
        result = await conn.execute(
            update(f).where(f.c.id == family_id, f.c.revoked.is_(False)).values(revoked=True)
        )
        await conn.execute(
            update(r)
            .where(r.c.family_id == family_id, r.c.successor.is_not(None))
            .values(successor=None, successor_expires_at=None)
        )
        return _rowcount(result) > 0

    async def _delete(self, conn: AsyncConnection, family_id: str) -> None:
        f = ephemeral_refresh_families
        # Its rotated hashes go with it (ON DELETE CASCADE), locked after the family as always.
        await conn.execute(delete(f).where(f.c.id == family_id))

    async def revoke_family(self, family_id: str) -> bool:
        async with self._db.transaction() as conn:
            return await self._revoke(conn, family_id)

    async def is_live(self, family_id: str, *, user_id: str, now: float) -> bool:
        """Whether the family exists, is the user's, is not revoked and has not expired.
        Only reads."""
        f = ephemeral_refresh_families
        async with self._db.read() as conn:
            found = await conn.scalar(
                select(f.c.id).where(
                    f.c.id == family_id,
                    f.c.user_id == user_id,
                    f.c.revoked.is_(False),
                    f.c.expires_at >= now,
                )
            )
        return found is not None

    async def list_for_user(self, user_id: str, *, now: float) -> list[RefreshFamily]:
        f = ephemeral_refresh_families
        async with self._db.transaction() as conn:
            await conn.execute(delete(f).where(f.c.user_id == user_id, f.c.expires_at < now))
            rows = await conn.execute(
                select(f)
                .where(f.c.user_id == user_id, f.c.revoked.is_(False), f.c.expires_at >= now)
                .order_by(f.c.last_used_at.desc(), f.c.id.desc())
            )
            return [_family_record(row) for row in rows]

    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        f, r = ephemeral_refresh_families, ephemeral_refresh_rotations
        revoked = update(f).where(f.c.user_id == user_id, f.c.revoked.is_(False))
        if keep is not None:
            revoked = revoked.where(f.c.id != keep)
        async with self._db.transaction() as conn:
            count = _rowcount(await conn.execute(revoked.values(revoked=True)))
            await conn.execute(
                update(r)
                .where(
                    r.c.family_id.in_(
                        select(f.c.id).where(f.c.user_id == user_id, f.c.revoked.is_(True))
                    ),
                    r.c.successor.is_not(None),
                )
                .values(successor=None, successor_expires_at=None)
            )
            return count

    async def purge_expired(self, now: float) -> int:
        """Clear raw successors past their grace window and delete dead families with their
        rotated hashes; returns how many families went.

        Two transactions, so this never holds rotation rows while it waits for a family row
        (every other writer locks the family first).
        """
        f, r = ephemeral_refresh_families, ephemeral_refresh_rotations
        async with self._db.transaction() as conn:
            await conn.execute(
                update(r)
                .where(r.c.successor_expires_at <= now)
                .values(successor=None, successor_expires_at=None)
            )
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(delete(f).where(f.c.expires_at < now)))
