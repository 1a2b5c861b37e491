"""What a team's page shows, read for one caller in one call (`TeamView.team`): the team,
its members, and according to the caller's role its invites, the catalog's roadmaps to
assign, and the team's progress on one roadmap with its heat map.

Who may see which section is asked of `kernel.authz.can` with the caller's role as the
service answered it: only to decide what to show. Every form's use case checks again.

The heat map is the roadmap's own diagram (`web.diagram.lay_out`: the same positions as on
the roadmap's page), the team's hidden topics left out, each topic coloured by the share of
members done with it, in five steps (`HEAT_LEVELS`), with the numbers in words beside the
colour (`templates/teams/_heatmap.html`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

from waymark.features.roadmaps.schemas import RoadmapDetail, RoadmapSummary
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.teams.schemas import (
    Invite,
    OfferedRole,
    TeamDetail,
    TeamMember,
    TeamProgress,
    TopicHeat,
)
from waymark.features.teams.service import Teams
from waymark.kernel.authz import INVITEE, Action, Member, Subject, Team, TeamRole, can
from waymark.kernel.identity import Account
from waymark.web.diagram import Diagram, lay_out

CATALOG_LIMIT = 100
OFFERED: Final[tuple[OfferedRole, ...]] = ("member", "manager", "admin")
HEAT_LEVELS: Final[tuple[str, ...]] = ("none", "few", "some", "most", "all")
"""Heat classes by the share of members done: nobody, under a third, under two thirds,
not everyone, everyone."""


@dataclass(frozen=True)
class Cell:
    """One topic of the heat map: how many members are done with it, out of how many."""

    heat: TopicHeat
    members: int

    @property
    def share(self) -> float:
        return self.heat.done / self.members if self.members else 0.0

    @property
    def level(self) -> str:
        if self.members == 0 or self.heat.done == 0:
            return HEAT_LEVELS[0]
        if self.heat.done == self.members:
            return HEAT_LEVELS[4]
        return HEAT_LEVELS[1 + min(2, int(self.share * 3))]

    @property
    def words(self) -> str:
        return f"{self.heat.done} of {self.members} done"


@dataclass(frozen=True)
class HeatMap:
    diagram: Diagram
    cells: Mapping[str, Cell]
    """By topic id (hidden topics have none, and are not drawn)."""


@dataclass(frozen=True)
class Progress:
    report: TeamProgress
    heat_map: HeatMap


@dataclass(frozen=True)
class TeamPage:
    team: TeamDetail
    me: Subject
    members: Sequence[TeamMember]
    invites: Sequence[Invite]
    """Pending invites, for roles that may read them (else empty)."""
    catalog: Sequence[RoadmapSummary]
    """Roadmaps the team could follow, for roles that may assign them (else empty)."""
    details: Mapping[str, RoadmapDetail]
    """The assigned roadmaps' topics (for the hidden-topics forms), for the same roles."""
    progress: Progress | None
    """The team's progress on the chosen roadmap, for roles that may read it."""
    chosen: str | None
    """The slug of the roadmap whose progress is shown."""

    def may(self, action: Action) -> bool:
        return can(self.me, action, self.resource)

    @property
    def resource(self) -> Team:
        return Team(team_id=self.team.id, members_see_progress=self.team.members_see_progress)

    def manages(self, member: TeamMember) -> bool:
        """Whether the caller may change this member's role or remove them."""
        return can(self.me, Action.MEMBERS_MANAGE, self._member(member.account_id, member.role))

    def roles_for(self, member: TeamMember) -> list[OfferedRole]:
        """The roles the caller may give this member (their own included)."""
        target = self._member(member.account_id, member.role)
        return [
            role
            for role in OFFERED
            if role == member.role
            or can(self.me, Action.MEMBERS_MANAGE, msgspec.structs.replace(target, to_role=role))
        ]

    def invitable_roles(self) -> list[OfferedRole]:
        return [
            role
            for role in OFFERED
            if can(
                self.me,
                Action.INVITES_MANAGE,
                self._member(INVITEE, TeamRole(role), TeamRole(role)),
            )
        ]

    def manages_invite(self, invite: Invite) -> bool:
        return can(self.me, Action.INVITES_MANAGE, self._member(INVITEE, invite.role, invite.role))

    def others(self) -> list[TeamMember]:
        """The members but the caller (whom ownership can be handed to)."""
        return [m for m in self.members if m.account_id != self.me.account_id]

    def _member(
        self, account_id: uuid.UUID, role: TeamRole, to_role: TeamRole | None = None
    ) -> Member:
        return Member(team=self.resource, account_id=account_id, role=role, to_role=to_role)


class TeamView:
    def __init__(self, teams: Teams, catalog: RoadmapCatalog) -> None:
        self.teams = teams
        self.catalog = catalog

    async def team(self, account: Account, team_id: uuid.UUID, roadmap: str | None) -> TeamPage:
        """The team's page for `account` (404 to a stranger), with the progress on
        `roadmap` (else the first roadmap the team follows)."""
        team = await self.teams.lifecycle.get(account, team_id)
        me = Subject(
            account_id=account.id, platform_role=account.platform_role, team_role=team.role
        )
        resource = Team(team_id=team.id, members_see_progress=team.members_see_progress)
        slugs = [r.slug for r in team.roadmaps]
        chosen = roadmap if roadmap in slugs else (slugs[0] if slugs else None)
        manages_roadmaps = can(me, Action.ROADMAPS_MANAGE, resource)
        members, invites, catalog, details, progress = await asyncio.gather(
            self.teams.members.of_team(account, team_id),
            self._invites(account, team_id, can(me, Action.INVITES_READ, resource)),
            self._catalog(manages_roadmaps),
            self._details(slugs if manages_roadmaps else []),
            self._progress(
                account, team_id, chosen if can(me, Action.PROGRESS_READ, resource) else None
            ),
        )
        return TeamPage(
            team=team,
            me=me,
            members=members,
            invites=invites,
            catalog=catalog,
            details=details,
            progress=progress,
            chosen=chosen,
        )

    async def _invites(self, account: Account, team_id: uuid.UUID, shown: bool) -> list[Invite]:
        return await self.teams.invites.of_team(account, team_id) if shown else []

    async def _catalog(self, shown: bool) -> Sequence[RoadmapSummary]:
        if not shown:
            return []
        return (await self.catalog.list_roadmaps(limit=CATALOG_LIMIT, cursor=None)).items

    async def _details(self, slugs: Sequence[str]) -> dict[str, RoadmapDetail]:
        found = await asyncio.gather(*(self.catalog.current(slug) for slug in slugs))
        return {current.slug: current.detail for current in found}

    async def _progress(
        self, account: Account, team_id: uuid.UUID, slug: str | None
    ) -> Progress | None:
        if slug is None:
            return None
        report, current = await asyncio.gather(
            self.teams.reports.on_roadmap(account, team_id, slug), self.catalog.current(slug)
        )
        return Progress(report, heat_map(current.detail, report))


def heat_map(roadmap: RoadmapDetail, report: TeamProgress) -> HeatMap:
    """The roadmap laid out without the team's hidden topics (a section left empty goes
    too), each topic with its share of members done."""
    hidden = set(report.hidden_topics)
    sections = [
        msgspec.structs.replace(section, topics=shown)
        for section in roadmap.sections
        if (shown := [t for t in section.topics if t.id not in hidden])
    ]
    diagram = lay_out(msgspec.structs.replace(roadmap, sections=sections))
    members = len(report.members)
    return HeatMap(
        diagram=diagram,
        cells={heat.topic_id: Cell(heat, members) for heat in report.topics},
    )
