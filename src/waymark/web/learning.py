"""What the home page and a roadmap's page show: the roadmaps, and for a signed-in learner
their progress on each; a roadmap drawn in the learner's statuses, with their counts, next
up, what changed since their last visit, and their notes and own resources by each topic.

The reads of three features (roadmaps, progress, notes) meet here, above them, so that each
page handler is still one call. Progress comes from `ProgressService.view`, once per page:
statuses, counts, next up and what changed are one consistent read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from waymark.features.notes.schemas import Resource, SavedNote
from waymark.features.notes.service import Notes
from waymark.features.progress.schemas import RoadmapProgress, RoadmapProgressSummary
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.schemas import RoadmapDetail, RoadmapSummary
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.sql.database import Database
from waymark.kernel.identity import Account
from waymark.web.diagram import Diagram, lay_out
from waymark.web.markdown import NoteRenderer

HOME_LIMIT = 100


@dataclass(frozen=True)
class HomePage:
    roadmaps: Sequence[RoadmapSummary]
    progress_by_slug: Mapping[str, RoadmapProgressSummary]
    """The signed-in learner's counts on the roadmaps they started."""


@dataclass(frozen=True)
class Learner:
    """A signed-in learner's side of a roadmap's page."""

    progress: RoadmapProgress
    notes: Mapping[str, SavedNote]
    """By topic id."""
    note_html: Mapping[str, Markup]
    """Each note rendered (safely: `web.markdown`), by topic id."""
    resources: Mapping[str, Sequence[Resource]]

    def resources_of(self, topic_id: str) -> Sequence[Resource]:
        return self.resources.get(topic_id, ())


@dataclass(frozen=True)
class RoadmapPage:
    roadmap: RoadmapDetail
    diagram: Diagram
    learner: Learner | None
    """None for a stranger: nothing to mark, a way to sign in instead."""
    titles: Mapping[str, str] = field(default_factory=dict)
    """Every current topic's title by id, for next up and what changed."""


class LearningPages:
    def __init__(
        self, *, catalog: RoadmapCatalog, progress: ProgressService, notes: Notes, db: Database
    ):
        self.catalog = catalog
        self.db = db
        self.progress = progress
        self.notes = notes
        self.renderer = NoteRenderer()

    async def home(self, account: Account | None) -> HomePage:
        roadmaps = (await self.catalog.list_roadmaps(limit=HOME_LIMIT, cursor=None)).items
        started = await self.progress.overview(account) if account else []
        return HomePage(roadmaps=roadmaps, progress_by_slug={s.slug: s for s in started})

    async def roadmap(self, account: Account | None, slug: str) -> RoadmapPage:
        current = await self.catalog.current(slug)
        titles = {t.id: t.title for section in current.detail.sections for t in section.topics}
        if account is None:
            return RoadmapPage(current.detail, lay_out(current.detail), None, titles)
        learner = await self.learner(account, slug)
        return RoadmapPage(
            current.detail, lay_out(current.detail, learner.progress.statuses), learner, titles
        )

    async def learner(self, account: Account, slug: str) -> Learner:
        """The signed-in learner's side of a roadmap's page: their progress, their notes
        (rendered) and resources; three hot reads on one connection (`hot_reads`)."""
        async with self.db.hot_reads():
            progress, _ = await self.progress.view(account, slug)
            mine = await self.notes.on_roadmap(account.id, slug)
        html = await self.renderer.render_all(
            {topic: saved.note.markdown for topic, saved in mine.notes.items()}
        )
        return Learner(
            progress=progress, notes=mine.notes, note_html=html, resources=mine.resources
        )
