"""WebSocket tickets in an SQL table (the embedded profile): one row per ticket, under its
hash. `DELETE ... RETURNING` takes it, so of two processes redeeming one ticket one gets it;
expired rows are deleted when taken and by `purge_expired(now)` (maintenance)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from waymark.infra.sql.database import Database
from waymark.infra.sql.live_tables import live_tickets
from waymark.kernel.live import LiveTicket


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


class SqlLiveTickets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, ticket_hash: str, ticket: LiveTicket) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                live_tickets.insert().values(
                    ticket_hash=ticket_hash,
                    account_id=ticket.account_id,
                    issued_at=ticket.issued_at,
                    expires_at=ticket.expires_at,
                )
            )

    async def take(self, ticket_hash: str, *, now: float) -> LiveTicket | None:
        t = live_tickets
        async with self._db.transaction() as conn:
            row = (
                await conn.execute(
                    delete(t)
                    .where(t.c.ticket_hash == ticket_hash)
                    .returning(t.c.account_id, t.c.issued_at, t.c.expires_at)
                )
            ).first()
        if row is None or now > row.expires_at:
            return None
        return LiveTicket(
            account_id=row.account_id, issued_at=row.issued_at, expires_at=row.expires_at
        )

    async def purge_expired(self, now: float) -> int:
        t = live_tickets
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(delete(t).where(t.c.expires_at < now)))
