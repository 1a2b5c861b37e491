"""The embedded refresh-token store: families and their rotated hashes in SQL tables.

Each port call is one short transaction of its own. On SQLite `Database.transaction()`
begins IMMEDIATE, so writers queue on the database lock; on PostgreSQL every writer locks the
family row first (`SELECT ... FOR UPDATE`), and a concurrent transaction that finds the row
changed under it re-reads it (READ COMMITTED). Dead families are deleted when a rotation
meets them and by `purge_expired(now)`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.ephemeral import expires_at
from waymark.infra.sql.database import Database
from waymark.infra.sql.ephemeral_tables import (
    ephemeral_refresh_families,
    ephemeral_refresh_rotations,
)
from waymark.kernel.ports import Invalid, RefreshFamily, Reused, Rotated, RotationResult


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


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
        amr=row.amr,
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
                    amr=family.amr,
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
