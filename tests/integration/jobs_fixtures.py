"""The side-effect table of the broker job tests, made and dropped around each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.jobs_support import create_effects_table, drop_effects_table
from waymark.infra.sql.database import Database


@pytest.fixture
async def effects(db: Database) -> AsyncIterator[None]:
    await create_effects_table(db)
    yield
    await drop_effects_table(db)
