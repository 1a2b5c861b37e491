"""A worker process for the chaos test: `python -m tests.integration.chaos_worker DB_URL
AMQP_URL QUEUE`. It runs the test's effect jobs (each takes `WAYMARK_TEST_CHAOS_JOB_MS`) on the
real Worker, three attempts each, until SIGTERM, or until the test kills it.
`WAYMARK_TEST_CHAOS_BATCH_SIZE` (default: the setting's, `WAYMARK_BROKER__BATCH_SIZE`'s
default) sets the size of its batches (docs/jobs.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy.ext.asyncio import AsyncConnection

from tests.integration.jobs_support import EFFECT, effect
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.broker.worker import Worker
from waymark.infra.observability.logging import configure_logging
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, RetryPolicy
from waymark.infra.sql.database import Database
from waymark.settings import BrokerSettings, LogSettings

ATTEMPTS = 3
POLICY = RetryPolicy(base=0.05, cap=0.2, max_attempts=ATTEMPTS, jitter=0.5)


async def main(database_url: str, amqp_url: str, queue: str) -> None:
    pause = float(os.environ.get("WAYMARK_TEST_CHAOS_JOB_MS", "10")) / 1000

    async def slow_effect(message: OutboxMessage, conn: AsyncConnection) -> None:
        await asyncio.sleep(pause)
        await effect(message, conn)

    configure_logging(LogSettings(level="warning", format="console"))
    registry = HandlerRegistry()
    registry.register_transactional(EFFECT, slow_effect)
    db = Database(database_url)
    broker = AmqpBroker(amqp_url, queue=queue, prefetch=20)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await broker.setup()
        print("ready", flush=True)  # the test kills only workers that got this far
        batch_size = int(
            os.environ.get("WAYMARK_TEST_CHAOS_BATCH_SIZE", BrokerSettings().batch_size)
        )
        worker = Worker(broker, registry, db, policy=POLICY, concurrency=20, batch_size=batch_size)
        await worker.run(stop, poll=0.2)
    finally:
        await broker.aclose()
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
