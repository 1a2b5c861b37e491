"""The side-effect table of the broker job tests, made and dropped around each test, and a
RabbitMQ broker on queues of the test's own, deleted after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.broker_servers import unique_queue
from tests.integration.jobs_support import create_effects_table, drop_effects_table
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.sql.database import Database


@pytest.fixture
async def effects(db: Database) -> AsyncIterator[None]:
    await create_effects_table(db)
    yield
    await drop_effects_table(db)


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[AmqpBroker]:
    made = AmqpBroker(amqp_url, queue=unique_queue())
    await made.setup()
    yield made
    await made.teardown()
    await made.aclose()
