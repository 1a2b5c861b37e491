"""`HotRead` answers exactly what SQLAlchemy would, reads only what is committed, and its
pool hands out connections like the main one (first come, first served, a bounded wait)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String, bindparam, func, insert, select, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from waymark.features.accounts.tables import users
from waymark.infra.sql.database import Database, HotRead
from waymark.infra.sql.types import object_agg
from waymark.kernel.errors import ServiceUnavailable
from waymark.settings import DatabaseSettings


class Shouted(TypeDecorator[str]):
    """A decorator whose processing shows: values come back upper case."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value).upper()


USER_ID = uuid.UUID("0193a0b2-7d8e-7c41-9a51-5f0e1c2d3b4a")
WHEN = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


async def test_both_paths_return_the_same_values(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            insert(users).values(
                id=USER_ID,
                email="hot@example.org",
                password_hash="x",
                display_name="Hot",
                email_verified_at=WHEN,
                tokens_valid_after=WHEN,
                created_at=WHEN,
                updated_at=WHEN,
            )
        )
    statement = select(*users.c, type_coerce(users.c.email, Shouted()).label("shouted")).where(
        users.c.id == bindparam("user_id")
    )
    hot = HotRead(statement)
    fast = await hot.fetch(db, {"user_id": USER_ID})
    missing = await hot.fetch(db, {"user_id": uuid.uuid4()})
    async with db.read() as conn:
        row = (await conn.execute(statement, {"user_id": USER_ID})).first()
    assert row is not None
    assert fast is not None
    slow = dict(row._mapping)
    assert dict(fast) == slow
    assert {k: type(v) for k, v in fast.items()} == {k: type(v) for k, v in slow.items()}
    assert isinstance(fast["id"], uuid.UUID)
    assert fast["created_at"] == WHEN
    assert fast["created_at"].tzinfo is UTC
    assert fast["shouted"] == "HOT@EXAMPLE.ORG"
    assert missing is None


async def test_object_agg_reads_a_group_as_one_dict_on_both_paths(db: Database) -> None:
    """`object_agg` (json_object_agg / json_group_object): the same dict from the driver,
    from SQLAlchemy, on either database; `{}` for no rows."""
    async with db.transaction() as conn:
        for number in range(3):
            await conn.execute(
                insert(users).values(
                    id=uuid.UUID(int=number + 1),
                    email=f"agg{number}@example.org",
                    password_hash="x",
                    display_name=f"Name {number}",
                    tokens_valid_after=WHEN,
                    created_at=WHEN,
                    updated_at=WHEN,
                )
            )
    statement = select(object_agg(users.c.email, users.c.display_name).label("names")).where(
        users.c.email.like(bindparam("pattern"))
    )
    hot = HotRead(statement)
    expected = {f"agg{n}@example.org": f"Name {n}" for n in range(3)}
    for pattern, wanted in (("agg%", expected), ("nobody%", {})):
        fast = await hot.fetch(db, {"pattern": pattern})
        async with db.read() as conn:
            slow = (await conn.execute(statement, {"pattern": pattern})).one()
        assert fast is not None
        assert fast["names"] == slow.names == wanted


async def test_it_reads_what_is_committed_and_never_a_callers_transaction(db: Database) -> None:
    """It runs on a connection of its own, in autocommit: inside an open transaction it
    does not see that transaction's writes, and it never joins it."""
    count = HotRead(select(func.count().label("n")).select_from(users))
    async with db.transaction() as conn:
        await conn.execute(
            insert(users).values(
                id=USER_ID,
                email="hot@example.org",
                password_hash="x",
                display_name="Hot",
                tokens_valid_after=WHEN,
                created_at=WHEN,
                updated_at=WHEN,
            )
        )
        inside = await count.fetch(db, {})
    after = await count.fetch(db, {})
    assert inside is not None
    assert after is not None
    assert (inside["n"], after["n"]) == (0, 1)


async def test_its_pool_answers_503_after_a_bounded_wait(database_url: str) -> None:
    db = Database(database_url, DatabaseSettings(hot_pool_size=1, pool_timeout=0.2))
    one = HotRead(select(func.count().label("n")).select_from(users))
    try:
        async with db.driver_connection():  # hold the only hot connection
            with pytest.raises(ServiceUnavailable) as caught:
                await one.fetch(db, {})
        assert caught.value.headers == {"retry-after": "1"}
        assert await one.fetch(db, {}) == {"n": 0}
    finally:
        await db.dispose()


async def test_an_expanding_in_reads_what_sqlalchemy_would_for_any_length(db: Database) -> None:
    """A list bound to an expanding IN is rendered once per length, as SQLAlchemy renders
    it; values the statement carries itself (`email != 'skip@...'`) are bound too."""
    ids = [uuid.UUID(int=n) for n in range(1, 6)]
    async with db.transaction() as conn:
        await conn.execute(
            insert(users),
            [
                {
                    "id": account,
                    "email": "skip@example.org" if n == 2 else f"{n}@example.org",
                    "password_hash": "x",
                    "display_name": f"N{n}",
                    "tokens_valid_after": WHEN,
                    "created_at": WHEN,
                    "updated_at": WHEN,
                }
                for n, account in enumerate(ids, start=1)
            ],
        )
    statement = (
        select(users.c.id, users.c.email, users.c.created_at)
        .where(
            users.c.id.in_(bindparam("ids", expanding=True, type_=users.c.id.type)),
            users.c.email != "skip@example.org",
            users.c.display_name != bindparam("not_named"),
        )
        .order_by(users.c.email)
    )
    hot = HotRead(statement)
    for chosen in ([], ids[:1], ids[:3], ids, ids[:3], [*ids, uuid.uuid4()]):
        params = {"ids": chosen, "not_named": "N4"}
        fast = await hot.fetch_all(db, params)
        async with db.read() as conn:
            slow = [dict(row._mapping) for row in await conn.execute(statement, params)]
        assert [dict(row) for row in fast] == slow
        expected = {account for account in chosen if account in ids} - {ids[1], ids[3]}
        assert {row["id"] for row in fast} == expected


async def test_hot_reads_share_one_connection_within_a_block_and_task(database_url: str) -> None:
    db = Database(database_url, DatabaseSettings(hot_pool_size=1, pool_timeout=0.2))
    one = HotRead(select(func.count().label("n")).select_from(users))
    try:
        async with db.hot_reads():  # takes the only hot connection, once
            assert await one.fetch(db, {}) == {"n": 0}
            async with db.hot_reads():  # nested: the same connection
                assert await one.fetch_all(db, {}) == [{"n": 0}]
            # Another task may not use it (one statement at a time): it waits for its own.
            with pytest.raises(ServiceUnavailable):
                await asyncio.create_task(one.fetch(db, {}))
        assert await one.fetch(db, {}) == {"n": 0}  # given back
    finally:
        await db.dispose()


async def test_a_hot_reads_block_takes_its_connection_at_the_first_read(
    database_url: str,
) -> None:
    """A block that reads nothing waits for nothing and holds nothing (a fast route whose
    caller is refused before any read), and one that reads gives its connection back."""
    db = Database(database_url, DatabaseSettings(hot_pool_size=1, pool_timeout=0.2))
    one = HotRead(select(func.count().label("n")).select_from(users))
    try:
        async with db.driver_connection():  # the only hot connection, taken elsewhere
            async with db.hot_reads():
                pass  # no read: no wait, no 503
            with pytest.raises(ServiceUnavailable):
                async with db.hot_reads():
                    await one.fetch(db, {})
        async with db.hot_reads():
            assert await one.fetch(db, {}) == {"n": 0}
            # The first read took it: another task waits for its own and times out.
            with pytest.raises(ServiceUnavailable):
                await asyncio.create_task(one.fetch(db, {}))
        async with db.driver_connection():  # given back at the end of the block
            pass
    finally:
        await db.dispose()


async def test_a_read_cancelled_mid_statement_never_hands_its_connection_on(
    database_url: str,
) -> None:
    """A hot read cancelled while PostgreSQL runs it (a client gone, a timeout) leaves its
    connection mid-statement: it is closed, not handed to the next read, which gets a fresh
    one and its own answer at once. Reads that finish keep their connection (one backend
    for many reads)."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's hot-read pool")
    db = Database(database_url, DatabaseSettings(hot_pool_size=1, pool_timeout=2))
    backend = HotRead(select(func.pg_backend_pid().label("pid")))
    slow = HotRead(select(func.pg_sleep(5).label("slept")))
    try:
        first = await backend.fetch(db, {})
        assert await backend.fetch(db, {}) == first  # kept and reused
        reading = asyncio.create_task(slow.fetch(db, {}))
        await asyncio.sleep(0.2)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        loop = asyncio.get_running_loop()
        started = loop.time()
        after = await asyncio.wait_for(backend.fetch(db, {}), 2)
        assert after is not None
        assert first is not None
        assert after["pid"] != first["pid"]
        assert loop.time() - started < 1
    finally:
        await db.dispose()
