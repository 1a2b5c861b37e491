"""Composition root: reads settings, builds the adapters, hands them to the features.

Building a container does no I/O; `aclose()` releases every connection it opened.
"""

from __future__ import annotations

from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.observability.metrics import HttpMetrics
from waymark.infra.sql.database import Database
from waymark.settings import Settings


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url, settings.db)
        self.metrics = HttpMetrics()
        self.roadmaps = RoadmapCatalog(self.db, cache_seconds=settings.http.roadmap_cache_seconds)

    async def aclose(self) -> None:
        await self.db.dispose()
