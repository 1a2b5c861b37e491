"""The notification centre: an account's in-app notifications, read and unread.

Notifications are made by outbox handlers (`jobs.py`) on other features' domain events, in
the relay's transaction (`Notifications.notify`), never in a request; each announces itself
as `notifications.created` in that transaction. The account reads and tidies its own
(`page`, `unread`, `mark_read`, `mark_all_read`, `delete`; marking read is announced as
`notifications.read`, so the account's other pages update their bell): another account's
notification answers as one that does not exist (404).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.notifications.errors import NoSuchNotification
from waymark.features.notifications.limits import MAX_PER_ACCOUNT
from waymark.features.notifications.messages import (
    NOTIFICATION_CREATED,
    NOTIFICATIONS_READ,
    Kind,
    NotificationCreated,
    NotificationsRead,
)
from waymark.features.notifications.repository import (
    NotificationRepository,
    NotificationRow,
    hot_unread,
)
from waymark.features.notifications.schemas import Notification, NotificationPage, Unread
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.errors import FieldError, ValidationFailed
from waymark.kernel.pagination import decode_cursor, encode_cursor


class Notifications:
    def __init__(
        self, *, db: Database, clock: Clock, outbox: Outbox, retention_days: float
    ) -> None:
        self.db = db
        self.clock = clock
        self.outbox = outbox
        self.retention = timedelta(days=retention_days)

    # -- the account's own -------------------------------------------------------------------

    async def page(
        self, account_id: uuid.UUID, *, cursor: str | None, limit: int, unread: bool = False
    ) -> NotificationPage:
        """Newest first, `limit` at a time (only the unread with `unread`), with the unread
        count."""
        before = _position(cursor) if cursor else None
        async with self.db.read() as conn:
            repo = NotificationRepository(conn)
            rows = await repo.page(account_id, before=before, limit=limit + 1, unread=unread)
            count = await repo.count_unread(account_id)
        more = len(rows) > limit
        rows = rows[:limit]
        return NotificationPage(
            items=[_view(row) for row in rows],
            next_cursor=encode_cursor(str(rows[-1].seq)) if more else None,
            unread=count,
        )

    async def export(self, account_id: uuid.UUID) -> list[Notification]:
        """Every notification of the account, newest first (at most `MAX_PER_ACCOUNT`): its
        part of the account's export."""
        async with self.db.read() as conn:
            rows = await NotificationRepository(conn).page(
                account_id, before=None, limit=MAX_PER_ACCOUNT, unread=False
            )
        return [_view(row) for row in rows]

    async def unread(self, account_id: uuid.UUID) -> int:
        """The unread count, in one indexed count (the bell on every signed-in page)."""
        return await hot_unread(self.db, account_id)

    async def mark_read(self, account_id: uuid.UUID, notification_id: uuid.UUID) -> Unread:
        """Mark one notification read (again is no change)."""
        return await self._mark(account_id, notification_id, only=True)

    async def mark_all_read(self, account_id: uuid.UUID, up_to: uuid.UUID) -> Unread:
        """Mark read every notification up to `up_to` (the newest one shown): any that came
        after it stays unread."""
        return await self._mark(account_id, up_to, only=False)

    async def delete(self, account_id: uuid.UUID, notification_id: uuid.UUID) -> None:
        async with self.db.transaction() as conn:
            if not await NotificationRepository(conn).delete(account_id, notification_id):
                raise NoSuchNotification()

    # -- made by outbox handlers -------------------------------------------------------------

    async def notify(
        self,
        conn: AsyncConnection,
        account_id: uuid.UUID,
        *,
        kind: Kind,
        text: str,
        link: str | None,
        data: dict[str, Any],
        dedupe_key: str,
    ) -> bool:
        """Give `account_id` a notification in `conn`'s transaction (an outbox handler's),
        announced as `notifications.created`; at most `MAX_PER_ACCOUNT` are kept. False
        when `dedupe_key` made one for the account already (the same event again)."""
        repo = NotificationRepository(conn)
        made = await repo.insert(
            account_id,
            kind=kind,
            text=text[:400],
            link=link,
            data=data,
            dedupe_key=dedupe_key,
            now=self.clock.now(),
        )
        if made is None:
            return False
        await repo.trim(account_id, MAX_PER_ACCOUNT)
        await self.outbox.publish(
            conn,
            NOTIFICATION_CREATED,
            NotificationCreated(
                notification_id=str(made),
                account_id=str(account_id),
                kind=kind,
                unread=await repo.count_unread(account_id),
            ),
        )
        return True

    async def delete_read(self, now: datetime) -> int:
        """Housekeeping: delete notifications read longer ago than the retention."""
        async with self.db.transaction() as conn:
            return await NotificationRepository(conn).delete_read_before(now - self.retention)

    # -- helpers -----------------------------------------------------------------------------

    async def _mark(
        self, account_id: uuid.UUID, notification_id: uuid.UUID, *, only: bool
    ) -> Unread:
        async with self.db.transaction() as conn:
            repo = NotificationRepository(conn)
            seq = await repo.seq_of(account_id, notification_id)
            if seq is None:
                raise NoSuchNotification()
            await repo.mark_read(account_id, up_to=seq, only=only, now=self.clock.now())
            unread = await repo.count_unread(account_id)
            read = NotificationsRead(account_id=str(account_id), unread=unread)
            await self.outbox.publish(conn, NOTIFICATIONS_READ, read)
            return Unread(unread=unread)


def _position(cursor: str) -> int:
    key = decode_cursor(cursor)
    if not key.isdigit() or len(key) > 18:
        raise ValidationFailed([FieldError("query.cursor", "not a cursor from this API")])
    return int(key)


def _view(row: NotificationRow) -> Notification:
    return Notification(
        id=row.id,
        kind=cast(Kind, row.kind),  # one of KINDS: only `notify` writes them
        text=row.text,
        link=row.link,
        data=row.data,
        created_at=row.created_at,
        read_at=row.read_at,
    )
