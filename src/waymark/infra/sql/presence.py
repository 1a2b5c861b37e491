"""Presence in the SQL database (`kernel.presence.Presence`, the embedded profile): a row of
`live_presence` per holder, with its expiry; `online` reads the unexpired ones, `sweep`
deletes the expired ones (`DELETE ... RETURNING`, so each is counted by one sweeper).

Whether an account's being online changed is decided in the transaction that changes its
holders, after locking them (`FOR UPDATE` on PostgreSQL; SQLite has one writer at a time):
two of its connections leaving at once cannot both think the other one stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.sql.database import Database
from waymark.infra.sql.live_tables import live_presence as _p
from waymark.kernel.presence import Present, ordered


class SqlPresence:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enter(
        self, room: str, holder: str, who: Present, *, expires_at: float, now: float
    ) -> bool:
        dialect = sqlite if self.db.is_sqlite else postgresql
        values = {"account_id": who.account_id, "display_name": who.display_name}
        statement = (
            dialect.insert(_p)
            .values(room=room, holder=holder, expires_at=expires_at, **values)
            .on_conflict_do_update(
                index_elements=[_p.c.room, _p.c.holder],
                set_={"expires_at": expires_at, **values},
            )
        )
        async with self.db.transaction() as conn:
            await self._lock(conn, room, who.account_id)
            before = await self._online_through_others(conn, room, who.account_id, "", now)
            await conn.execute(statement)
        return not before

    async def refresh(self, room: str, holders: Sequence[str], *, expires_at: float) -> list[str]:
        if not holders:
            return []
        async with self.db.transaction() as conn:
            found = (
                await conn.execute(
                    update(_p)
                    .where(_p.c.room == room, _p.c.holder.in_(list(holders)))
                    .values(expires_at=expires_at)
                    .returning(_p.c.holder)
                )
            ).scalars()
            kept = set(found)
        return [holder for holder in holders if holder not in kept]

    async def leave(self, room: str, holder: str, account_id: str, *, now: float) -> bool:
        async with self.db.transaction() as conn:
            await self._lock(conn, room, account_id)
            left = (
                await conn.execute(
                    delete(_p)
                    .where(_p.c.room == room, _p.c.holder == holder)
                    .returning(_p.c.expires_at)
                )
            ).first()
            if left is None or left.expires_at <= now:
                return False  # it kept nobody online
            return not await self._online_through_others(conn, room, account_id, holder, now)

    async def online(self, room: str, *, now: float) -> list[Present]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(_p.c.account_id, _p.c.display_name).where(
                        _p.c.room == room, _p.c.expires_at > now
                    )
                )
            ).all()
        return ordered([_present(row) for row in rows])

    async def sweep(self, room: str, *, now: float) -> list[Present]:
        async with self.db.transaction() as conn:
            lapsed = (
                await conn.execute(
                    delete(_p)
                    .where(_p.c.room == room, _p.c.expires_at <= now)
                    .returning(_p.c.account_id, _p.c.display_name)
                )
            ).all()
            gone = []
            for who in ordered([_present(row) for row in lapsed]):
                if not await self._online_through_others(conn, room, who.account_id, "", now):
                    gone.append(who)
        return gone

    async def purge_expired(self, now: float) -> int:
        """Every room's expired holders (periodic maintenance: rooms nobody sweeps)."""
        async with self.db.transaction() as conn:
            deleted = (
                await conn.execute(delete(_p).where(_p.c.expires_at <= now).returning(_p.c.holder))
            ).all()
        return len(deleted)

    async def _lock(self, conn: AsyncConnection, room: str, account_id: str) -> None:
        """Take the account's holders in the room (PostgreSQL; SQLite writes one at a time)."""
        if not self.db.is_sqlite:
            await conn.execute(
                select(_p.c.holder)
                .where(_p.c.room == room, _p.c.account_id == account_id)
                .order_by(_p.c.holder)
                .with_for_update()
            )

    @staticmethod
    async def _online_through_others(
        conn: AsyncConnection, room: str, account_id: str, holder: str, now: float
    ) -> bool:
        others = (
            select(_p.c.holder)
            .where(
                _p.c.room == room,
                _p.c.account_id == account_id,
                _p.c.holder != holder,
                _p.c.expires_at > now,
            )
            .limit(1)
        )
        return bool(await conn.scalar(select(exists(others))))


def _present(row: object) -> Present:
    return Present(account_id=row.account_id, display_name=row.display_name)  # type: ignore[attr-defined]
