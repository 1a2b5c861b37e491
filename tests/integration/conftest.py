"""Fixtures of the integration tests that several modules share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar

from tests.integration.progress_support import SPEC
from tests.recording import RecordingDatabase
from tests.web_helpers import Client, browsing
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.service import RoadmapCatalog, import_roadmap
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock, utcnow


@pytest.fixture
async def imported(db: Database) -> None:
    async with db.transaction() as conn:
        await import_roadmap(conn, SPEC, now=utcnow())


@pytest.fixture
async def service(db: Database) -> AsyncIterator[ProgressService]:
    catalog = RoadmapCatalog(db, cache_seconds=0)
    yield ProgressService(db=db, catalog=catalog, outbox=Outbox(), clock=Clock())
    await catalog.aclose()  # a refresh of the roadmap may be reading still


@pytest.fixture
async def recorded(database_url: str) -> AsyncIterator[RecordingDatabase]:
    """The test's database, showing the statements sent while `recording()`."""
    database = RecordingDatabase(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def web(app: Litestar) -> AsyncIterator[Client]:
    """A browser on the pages: an https client keeping its cookies (`tests.web_helpers`)."""
    async with browsing(app) as client:
        yield client
