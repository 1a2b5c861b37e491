"""The home page (the roadmaps, and a way to sign up) and a roadmap's page: its diagram, an
outline of the same, and a panel per topic with its description and, where Waymark builds
the topic itself, how (the roadmap's coverage rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from waymark.features.roadmaps.coverage import CoverageMap
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.web.diagram import lay_out
from waymark.web.progress import LearnerProgress
from waymark.web.rendering import page
from waymark.web.visitor import Browsing

HOME_LIMIT = 100
SlugPath = Annotated[str, PathParameter(max_length=64)]


def roadmap_pages(
    catalog: RoadmapCatalog, progress: LearnerProgress, coverage: Mapping[str, CoverageMap]
) -> list[HTTPRouteHandler]:
    @get("/")
    async def home(visitor: Browsing) -> Response[Any]:
        roadmaps = (await catalog.list_roadmaps(limit=HOME_LIMIT, cursor=None)).items
        summaries = (
            await progress.summaries(visitor.account, [r.slug for r in roadmaps])
            if visitor.account
            else {}
        )
        return page(visitor, "home.html", roadmaps=roadmaps, progress_by_slug=summaries)

    @get("/roadmaps/{slug:str}")
    async def roadmap(visitor: Browsing, slug: SlugPath) -> Response[Any]:
        current = await catalog.current(slug)
        statuses = await progress.statuses(visitor.account, current) if visitor.account else {}
        return page(
            visitor,
            "roadmap/page.html",
            roadmap=current.detail,
            diagram=lay_out(current.detail, statuses),
            coverage=coverage.get(slug),
            progress=None,
        )

    return [home, roadmap]
