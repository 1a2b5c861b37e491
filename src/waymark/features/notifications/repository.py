"""The notifications' SQL; nobody else imports it.

An account's notifications are numbered 1, 2, ... (`seq`), the next being one more than its
highest. Two writers for one account take turns: on PostgreSQL each first takes a
transaction-scoped advisory lock on the account (so the later one's INSERT, a statement of
its own under READ COMMITTED, sees the earlier one's row); SQLite has one writer at a time.
Were they ever to collide, the primary key refuses the second and its transaction (an
outbox handler's) is retried: numbers never repeat or go back.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.notifications.tables import notifications
from waymark.infra.sql.database import Database, HotRead

_n = notifications
_COLUMNS = (
    _n.c.seq,
    _n.c.id,
    _n.c.kind,
    _n.c.text,
    _n.c.link,
    _n.c.data,
    _n.c.created_at,
    _n.c.read_at,
)
_UNREAD = HotRead(
    select(func.count().label("unread")).where(
        _n.c.account_id == bindparam("account_id", type_=_n.c.account_id.type),
        _n.c.read_at.is_(None),
    )
)


async def hot_unread(db: Database, account_id: uuid.UUID) -> int:
    """The account's unread count, as committed (a `HotRead`: one indexed count, for every
    signed-in page)."""
    row = await _UNREAD.fetch(db, {"account_id": account_id})
    return int(row["unread"]) if row else 0


@dataclass(kw_only=True)
class NotificationRow:
    seq: int
    id: uuid.UUID
    kind: str
    text: str
    link: str | None
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


def _row(row: Any) -> NotificationRow:
    values = dict(row._mapping)
    values["data"] = json.loads(values["data"] or "{}")
    return NotificationRow(**values)


class NotificationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert(
        self,
        account_id: uuid.UUID,
        *,
        kind: str,
        text: str,
        link: str | None,
        data: dict[str, Any],
        dedupe_key: str,
        now: datetime,
    ) -> uuid.UUID | None:
        """A new notification, numbered after the account's last; None if one with
        `dedupe_key` exists already (the same event, handled again)."""
        notification_id = uuid.uuid4()
        if self.conn.dialect.name == "postgresql":
            key = account_id.int & (2**63 - 1)  # a bigint: the account's lock
            await self.conn.execute(select(func.pg_advisory_xact_lock(key)))
        last = (
            select(func.coalesce(func.max(_n.c.seq), 0) + 1)
            .where(_n.c.account_id == account_id)
            .scalar_subquery()
        )
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(_n)
            .values(
                account_id=account_id,
                seq=last,
                id=notification_id,
                kind=kind,
                text=text,
                link=link,
                data=json.dumps(data, separators=(",", ":"), sort_keys=True),
                dedupe_key=dedupe_key,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[_n.c.account_id, _n.c.dedupe_key])
        )
        result = await self.conn.execute(statement)
        return notification_id if result.rowcount else None

    async def page(
        self, account_id: uuid.UUID, *, before: int | None, limit: int, unread: bool
    ) -> list[NotificationRow]:
        """Newest first: `limit` rows numbered below `before`."""
        query = select(*_COLUMNS).where(_n.c.account_id == account_id)
        if before is not None:
            query = query.where(_n.c.seq < before)
        if unread:
            query = query.where(_n.c.read_at.is_(None))
        rows = await self.conn.execute(query.order_by(_n.c.seq.desc()).limit(limit))
        return [_row(row) for row in rows]

    async def seq_of(self, account_id: uuid.UUID, notification_id: uuid.UUID) -> int | None:
        """The number of the account's notification `notification_id` (None: not its own)."""
        found = await self.conn.scalar(
            select(_n.c.seq).where(_n.c.account_id == account_id, _n.c.id == notification_id)
        )
        return None if found is None else int(found)

    async def count_unread(self, account_id: uuid.UUID) -> int:
        return int(
            await self.conn.scalar(
                select(func.count()).where(_n.c.account_id == account_id, _n.c.read_at.is_(None))
            )
            or 0
        )

    async def mark_read(
        self, account_id: uuid.UUID, *, up_to: int, only: bool, now: datetime
    ) -> int:
        """Mark unread notification `up_to` read (`only`), or every one up to it."""
        seq = _n.c.seq == up_to if only else _n.c.seq <= up_to
        result = await self.conn.execute(
            update(_n)
            .where(_n.c.account_id == account_id, seq, _n.c.read_at.is_(None))
            .values(read_at=now)
        )
        return int(result.rowcount or 0)

    async def delete(self, account_id: uuid.UUID, notification_id: uuid.UUID) -> bool:
        result = await self.conn.execute(
            delete(_n).where(_n.c.account_id == account_id, _n.c.id == notification_id)
        )
        return bool(result.rowcount)

    async def trim(self, account_id: uuid.UUID, keep: int) -> int:
        """Keep the account's `keep` newest notifications but for read ones, which go first:
        delete the oldest read ones, then (if all are unread) the oldest."""
        count = int(
            await self.conn.scalar(select(func.count()).where(_n.c.account_id == account_id)) or 0
        )
        if count <= keep:
            return 0
        doomed = (
            select(_n.c.seq)
            .where(_n.c.account_id == account_id)
            .order_by(_n.c.read_at.is_(None), _n.c.seq)
            .limit(count - keep)
        )
        seqs = [int(seq) for seq in await self.conn.scalars(doomed)]
        result = await self.conn.execute(
            delete(_n).where(_n.c.account_id == account_id, _n.c.seq.in_(seqs))
        )
        return int(result.rowcount or 0)

    async def delete_read_before(self, cutoff: datetime) -> int:
        result = await self.conn.execute(
            delete(_n).where(and_(_n.c.read_at.is_not(None), _n.c.read_at < cutoff))
        )
        return int(result.rowcount or 0)
