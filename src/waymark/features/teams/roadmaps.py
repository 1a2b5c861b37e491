"""The roadmaps a team follows: assigning one (it must be in the catalog), unassigning it,
and the topics the team hides from its view of it (progress and reminders leave them out)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.teams.errors import TooManyRoadmaps
from waymark.features.teams.limits import MAX_ROADMAPS
from waymark.features.teams.repository import AssignedRoadmap, TeamRepository
from waymark.features.teams.schemas import TeamRoadmap
from waymark.features.teams.use_cases import TeamUseCases, standing
from waymark.kernel.authz import Action
from waymark.kernel.errors import FieldError, NotFound, ValidationFailed
from waymark.kernel.identity import Account


@dataclass(kw_only=True, eq=False)
class TeamRoadmaps(TeamUseCases):
    async def assign(self, account: Account, team_id: uuid.UUID, slug: str) -> TeamRoadmap:
        """Have the team follow roadmap `slug` (404 if the catalog has none); assigning one
        it follows already changes nothing."""
        roadmap = await self.catalog.current(slug)
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.ROADMAPS_MANAGE)
            repo = TeamRepository(conn)
            assigned = await repo.roadmaps(team_id, slug=slug)
            if assigned:
                return await roadmap_view(self.catalog, assigned[0])
            if await repo.count_roadmaps(team_id) >= MAX_ROADMAPS:
                raise TooManyRoadmaps()
            now = self.clock.now()
            await repo.assign(team_id, roadmap.id, roadmap.slug, now=now)
        return TeamRoadmap(
            slug=roadmap.slug, title=roadmap.detail.title, hidden_topics=[], assigned_at=now
        )

    async def unassign(self, account: Account, team_id: uuid.UUID, slug: str) -> None:
        """Stop following roadmap `slug` (its hidden topics are forgotten)."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.ROADMAPS_MANAGE)
            repo = TeamRepository(conn)
            assigned = await assigned_roadmap(repo, team_id, slug)
            await repo.unassign(team_id, assigned.roadmap_id)

    async def hide_topics(
        self, account: Account, team_id: uuid.UUID, slug: str, topic_ids: Sequence[str]
    ) -> TeamRoadmap:
        """Replace the set of topics the team hides on roadmap `slug`; each must be a
        current topic of it (else 422 naming the unknown ones, changing nothing)."""
        roadmap = await self.catalog.current(slug)
        current = set(roadmap.topic_ids())
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.ROADMAPS_MANAGE)
            repo = TeamRepository(conn)
            assigned = await assigned_roadmap(repo, team_id, slug)
            unknown = [
                FieldError(f"topic_ids[{index}]", f"no topic {topic!r} on roadmap {slug!r}")
                for index, topic in enumerate(topic_ids)
                if topic not in current
            ]
            if unknown:
                raise ValidationFailed(unknown)
            await repo.set_hidden(team_id, assigned.roadmap_id, sorted(topic_ids))
        assigned.hidden = sorted(topic_ids)
        return await roadmap_view(self.catalog, assigned)


async def assigned_roadmap(repo: TeamRepository, team_id: uuid.UUID, slug: str) -> AssignedRoadmap:
    """The team's assignment of roadmap `slug`; 404 if it follows no such roadmap."""
    return the_assignment(await repo.roadmaps(team_id, slug=slug), slug)


def the_assignment(found: Sequence[AssignedRoadmap], slug: str) -> AssignedRoadmap:
    """The one assignment of roadmap `slug` read (`TeamRepository.roadmaps(slug=slug)`); 404
    if there is none."""
    if not found:
        raise NotFound(f"the team follows no roadmap {slug!r}")
    return found[0]


async def roadmap_view(catalog: RoadmapCatalog, assigned: AssignedRoadmap) -> TeamRoadmap:
    """An assigned roadmap with its title (from the catalog's cache)."""
    try:
        title = (await catalog.current(assigned.slug)).detail.title
    except NotFound:  # deleted meanwhile: its assignment goes with it (cascade)
        title = assigned.slug
    return TeamRoadmap(
        slug=assigned.slug,
        title=title,
        hidden_topics=assigned.hidden,
        assigned_at=assigned.assigned_at,
    )
