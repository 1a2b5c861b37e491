"""What the broker job tests share: a table of side effects (made by the tests, not a
migration: it stands for a feature's table) and jobs that write to it. Imported by the chaos
test's worker processes too: nothing here imports pytest (seconds of start-up on a loaded
machine)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.infra.sql.database import Database
from waymark.kernel.broker import Broker, Job

EFFECT = "test.effect"
POISON = "poison"
EFFECTS_TABLE = "test_job_effects"


def job(job_id: str, payload: str = '{"n":1}', kind: str = EFFECT) -> Job:
    return Job(id=job_id, kind=kind, payload=payload, created_at=datetime.now(UTC).timestamp())


async def create_effects_table(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} (job_id VARCHAR(36) NOT NULL)")
        )


async def drop_effects_table(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {EFFECTS_TABLE}"))


async def effect(message: OutboxMessage, conn: AsyncConnection) -> None:
    """A transactional job: one row per run that commits; a poison payload always fails."""
    if POISON in message.payload:
        raise ValueError(f"poison job {message.id}")
    if "permanent" in message.payload:
        raise PermanentFailure("cannot ever work")
    await conn.execute(
        text(f"INSERT INTO {EFFECTS_TABLE} (job_id) VALUES (:id)"), {"id": message.id}
    )


def effect_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register_transactional(EFFECT, effect)
    return registry


async def effect_counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(
            text(f"SELECT job_id, COUNT(*) FROM {EFFECTS_TABLE} GROUP BY job_id")
        )
        return {str(job_id): int(n) for job_id, n in rows.all()}


async def wait_for_depth(broker: Broker, *, dead: int, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while (await broker.depth()).dead < dead:
        assert time.monotonic() < deadline, await broker.depth()
        await asyncio.sleep(0.05)
