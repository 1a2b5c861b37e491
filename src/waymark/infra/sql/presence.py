"""Presence in the SQL database (`kernel.presence.Presence`, the embedded profile): a row of
`live_presence` per holder, with its expiry; `online` reads the unexpired ones, `sweep`
deletes the expired ones (`DELETE ... RETURNING`, so each is counted by one sweeper)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from waymark.infra.sql.database import Database
from waymark.infra.sql.live_tables import live_presence as _p
from waymark.kernel.presence import Present, ordered


class SqlPresence:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enter(self, room: str, holder: str, who: Present, *, expires_at: float) -> None:
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
            await conn.execute(statement)

    async def refresh(self, room: str, holders: Sequence[str], *, expires_at: float) -> None:
        if not holders:
            return
        async with self.db.transaction() as conn:
            await conn.execute(
                update(_p)
                .where(_p.c.room == room, _p.c.holder.in_(list(holders)))
                .values(expires_at=expires_at)
            )

    async def leave(self, room: str, holder: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(delete(_p).where(_p.c.room == room, _p.c.holder == holder))

    async def online(self, room: str, *, now: float) -> list[Present]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(_p.c.account_id, _p.c.display_name).where(
                        _p.c.room == room, _p.c.expires_at > now
                    )
                )
            ).all()
        return ordered(
            [Present(account_id=row.account_id, display_name=row.display_name) for row in rows]
        )

    async def sweep(self, room: str, *, now: float) -> int:
        async with self.db.transaction() as conn:
            deleted = (
                await conn.execute(
                    delete(_p)
                    .where(_p.c.room == room, _p.c.expires_at <= now)
                    .returning(_p.c.holder)
                )
            ).all()
        return len(deleted)

    async def purge_expired(self, now: float) -> int:
        """Every room's expired holders (periodic maintenance: rooms nobody sweeps)."""
        async with self.db.transaction() as conn:
            deleted = (
                await conn.execute(delete(_p).where(_p.c.expires_at <= now).returning(_p.c.holder))
            ).all()
        return len(deleted)
