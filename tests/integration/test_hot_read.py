"""`HotRead` answers exactly what SQLAlchemy would, and never runs outside its transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import String, bindparam, func, insert, select, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from waymark.features.accounts.tables import users
from waymark.infra.sql.database import Database, HotRead


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
    async with db.read() as conn:
        fast = await hot.one_or_none(conn, {"user_id": USER_ID})
        row = (await conn.execute(statement, {"user_id": USER_ID})).first()
        missing = await hot.one_or_none(conn, {"user_id": uuid.uuid4()})
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


@pytest.mark.backend("postgresql")
async def test_inside_a_transaction_it_is_part_of_the_transaction(db: Database) -> None:
    """As the first statement of `transaction()`, before SQLAlchemy has sent BEGIN, a raw
    driver call would run in a transaction of its own; the id of the current transaction
    shows which one the read ran in. (SQLite never takes the driver path.)"""
    current_tx = HotRead(select(func.txid_current().label("tx")))
    async with db.transaction() as conn:
        first = await current_tx.one_or_none(conn, {})
        same = await conn.scalar(select(func.txid_current()))
    assert first is not None
    assert first["tx"] == same
