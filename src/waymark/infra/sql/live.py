"""Live channels in the SQL database (`kernel.ports.LiveChannels`, the embedded profile).

Each event is a row of `live_events`, whose id orders it; a publish keeps the channel's
newest `replay_length` rows. Publishers take turns (SQLite's single writer; a transaction
advisory lock on PostgreSQL), so ids become visible in their order and a reader that asks for
"ids above the last one I saw" never skips one committed late.

Delivery: while this process has subscribers, one task reads the rows above the last id it
saw, every `poll_interval` seconds and at once when this process publishes (after commit).
So events written by another process (`waymark serve --workers 2` on one SQLite file) arrive
within a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
import structlog
from sqlalchemy import and_, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.live import Fanout, LiveBackend, Subscription, check_publish, complete_after
from waymark.infra.sql.database import Database, after_commit
from waymark.infra.sql.live_tables import live_events as _e
from waymark.kernel.live import LiveEvent

log = structlog.get_logger(__name__)

_LOCK_KEY = 0x5761796D61726B  # "Waymark": the publishers' advisory lock on PostgreSQL
_POLL_BATCH = 500
_COLUMNS = (_e.c.id, _e.c.channel, _e.c.kind, _e.c.data)


def _event(row: Any) -> LiveEvent:
    return LiveEvent(
        channel=row.channel, id=str(row.id), kind=row.kind, data=msgspec.json.decode(row.data)
    )


class SqlLiveChannels(LiveBackend):
    def __init__(
        self, db: Database, *, replay_length: int = 1000, poll_interval: float = 0.25
    ) -> None:
        self.db = db
        self.replay_length = replay_length
        self.poll_interval = poll_interval
        self.fanout = Fanout(self)
        self._seen: int | None = None
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False

    # -- the port ----------------------------------------------------------------------------

    async def publish(self, channel: str, kind: str, data: Any, *, dedupe_key: str) -> str:
        check_publish(channel, kind)
        body = msgspec.json.encode(data).decode()
        async with self.db.transaction() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            same = await conn.scalar(
                select(_e.c.id).where(_e.c.channel == channel, _e.c.dedupe_key == dedupe_key)
            )
            if same is not None:
                return str(same)
            prev = await conn.scalar(select(func.max(_e.c.id)).where(_e.c.channel == channel))
            event_id = await conn.scalar(
                insert(_e)
                .values(
                    channel=channel,
                    prev_id=prev,
                    kind=kind,
                    data=body,
                    dedupe_key=dedupe_key,
                    created_at=time.time(),
                )
                .returning(_e.c.id)
            )
            await self._trim(conn, channel)
            after_commit(conn, self._wake.set)
        return str(event_id)

    async def published(self, channel: str, dedupe_key: str) -> bool:
        async with self.db.read() as conn:
            found = await conn.scalar(
                select(_e.c.id).where(_e.c.channel == channel, _e.c.dedupe_key == dedupe_key)
            )
        return found is not None

    async def _trim(self, conn: AsyncConnection, channel: str) -> None:
        oldest_kept = (
            select(_e.c.id)
            .where(_e.c.channel == channel)
            .order_by(_e.c.id.desc())
            .offset(self.replay_length - 1)
            .limit(1)
            .scalar_subquery()
        )
        await conn.execute(delete(_e).where(_e.c.channel == channel, _e.c.id < oldest_kept))

    async def replay(self, channel: str, after: str) -> list[LiveEvent] | None:
        try:
            mark = self.order(after)[0]
        except ValueError:
            return None
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*_COLUMNS, _e.c.prev_id)
                    .where(_e.c.channel == channel, _e.c.id > mark)
                    .order_by(_e.c.id)
                    .limit(self.replay_length + 1)
                )
            ).all()
            head = "" if rows else await self._head(conn, channel)
        first_prev = None if not rows else ("" if rows[0].prev_id is None else str(rows[0].prev_id))
        if not complete_after(self, after, head, first_prev):
            return None
        return [_event(row) for row in rows]

    def subscribe(self, *, queue_size: int | None = None) -> Subscription:
        return self.fanout.subscribe(queue_size)

    async def aclose(self) -> None:
        await self.fanout.aclose()
        if self._poller is not None:
            # Not cancelled mid-query: it finishes the read it is in, and its connection
            # goes back to the pool.
            self._stopping = True
            self._wake.set()
            await self._poller
            self._poller = None

    # -- the backend -------------------------------------------------------------------------

    def order(self, event_id: str) -> tuple[int, ...]:
        if event_id == "":
            return (0,)
        if not event_id.isdigit() or len(event_id) > 19:
            raise ValueError(event_id)
        return (int(event_id),)

    async def head(self, channel: str) -> str:
        async with self.db.read() as conn:
            return await self._head(conn, channel)

    @staticmethod
    async def _head(conn: AsyncConnection, channel: str) -> str:
        newest = await conn.scalar(select(func.max(_e.c.id)).where(_e.c.channel == channel))
        return "" if newest is None else str(newest)

    async def listen(self, channel: str) -> None:
        if self._poller is None or self._poller.done():
            async with self.db.read() as conn:
                self._seen = int(await conn.scalar(select(func.max(_e.c.id))) or 0)
            self._poller = asyncio.create_task(self._poll(), name="live-poll")

    async def unlisten(self, channel: str) -> None:
        """Nothing to do: the poller reads every channel and skips those nobody follows."""

    async def _poll(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            if self._stopping or not self.fanout.channels:
                continue
            try:
                await self._read_new()
            except Exception:  # a database outage: try again at the next poll
                log.warning("live_poll_failed", exc_info=True)

    async def _read_new(self) -> None:
        while True:
            async with self.db.read() as conn:
                rows = (
                    await conn.execute(
                        select(*_COLUMNS)
                        .where(and_(_e.c.id > (self._seen or 0)))
                        .order_by(_e.c.id)
                        .limit(_POLL_BATCH)
                    )
                ).all()
            for row in rows:
                self._seen = row.id
                if row.channel in self.fanout.channels:
                    self.fanout.dispatch(_event(row))
            if len(rows) < _POLL_BATCH:
                return
