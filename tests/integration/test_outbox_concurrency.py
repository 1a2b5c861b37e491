"""Relays side by side: each message delivered exactly once, on PostgreSQL (SKIP LOCKED) and
on SQLite (claims serialised by BEGIN IMMEDIATE). Each relay has its own engine and pool, as
two processes would."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from waymark.infra.outbox import DONE, HandlerRegistry, Outbox, OutboxMessage, OutboxRelay
from waymark.infra.outbox.tables import outbox as outbox_table
from waymark.infra.sql.database import Database

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
KIND = "test.concurrent"
MESSAGES = 120


async def test_two_relays_deliver_each_message_exactly_once(
    db: Database, database_url: str
) -> None:
    outbox = Outbox()
    async with db.transaction() as conn:
        ids = [await outbox.enqueue(conn, KIND, {"n": n}, now=T0) for n in range(MESSAGES)]

    deliveries: Counter[str] = Counter()
    by_relay: Counter[str] = Counter()

    def handler_for(name: str):  # type: ignore[no-untyped-def]
        async def handler(message: OutboxMessage) -> None:
            await asyncio.sleep(0.001)  # the other relay claims while this one is "sending"
            deliveries[message.id] += 1
            by_relay[name] += 1

        return handler

    other_db = Database(database_url)
    try:
        relays = []
        for name, database in (("a", db), ("b", other_db)):
            handlers = HandlerRegistry()
            handlers.register(KIND, handler_for(name))
            relays.append(OutboxRelay(database, handlers, relay_id=name, batch_size=7))

        async def drain(relay: OutboxRelay) -> None:
            # A fixed `now` keeps every lease valid, so nothing is claimed twice by expiry.
            while (await relay.run_once(T0)).claimed:
                pass

        await asyncio.wait_for(asyncio.gather(*(drain(r) for r in relays)), 60)
    finally:
        await other_db.dispose()

    assert set(deliveries) == set(ids)
    assert set(deliveries.values()) == {1}
    assert sum(by_relay.values()) == MESSAGES
    assert len(by_relay) == 2  # both relays took a share: they really ran side by side
    async with db.read() as conn:
        states = (await conn.execute(select(outbox_table.c.state))).scalars().all()
    assert set(states) == {DONE}


@pytest.mark.backend("postgresql")  # SQLite has no row locks: one writer at a time
async def test_postgres_claims_skip_rows_locked_by_another_transaction(
    db: Database, database_url: str
) -> None:
    outbox = Outbox()
    async with db.transaction() as conn:
        ids = [await outbox.enqueue(conn, KIND, {"n": n}, now=T0) for n in range(3)]
    seen: list[str] = []

    async def handler(message: OutboxMessage) -> None:
        seen.append(message.id)

    handlers = HandlerRegistry()
    handlers.register(KIND, handler)
    relay = OutboxRelay(db, handlers)
    other_db = Database(database_url)
    try:
        async with other_db.transaction() as holder:
            # Another relay mid-claim holds the first row's lock ...
            await holder.execute(
                select(outbox_table.c.id).where(outbox_table.c.id == ids[0]).with_for_update()
            )
            # ... so this claim passes it by instead of waiting for it.
            report = await asyncio.wait_for(relay.run_once(T0), 10)
            assert report.delivered == 2
            assert sorted(seen) == sorted(ids[1:])
    finally:
        await other_db.dispose()
    assert (await relay.run_once(T0)).delivered == 1
    assert sorted(seen) == sorted(ids)
