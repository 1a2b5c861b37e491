"""What every team use case works with, and the one way each finds out who is acting: the
caller's `Standing` in a team, read in the use case's own transaction, checked with
`kernel.authz.require` before anything is done.

The caller's platform role is the account's as read for this request, and its team role is
read here, with the team, on every call: a role changed or taken away counts at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.profile import Profiles
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.teams.repository import TeamRepository, TeamRow
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.authz import Action, Member, Subject, Team, TeamRole, require
from waymark.kernel.clock import Clock
from waymark.kernel.identity import Account
from waymark.kernel.throttle import Throttle


@dataclass(kw_only=True, eq=False)
class TeamUseCases:
    db: Database
    clock: Clock
    throttle: Throttle
    outbox: Outbox
    catalog: RoadmapCatalog
    progress: ProgressService
    profiles: Profiles
    public_url: str
    """Where mailed links point (`{public_url}/invites/{token}`)."""

    @classmethod
    def sharing(cls, tools: TeamUseCases, **extra: Any) -> Self:
        """A group of use cases working with the same tools as `tools`."""
        shared = {field.name: getattr(tools, field.name) for field in fields(TeamUseCases)}
        return cls(**shared, **extra)


@dataclass(frozen=True, kw_only=True)
class Standing:
    """The caller as the policy sees it in one team: `team` is None when there is no such
    team, and then the caller has no role in it either (so it answers 404 like a team the
    caller is not in)."""

    team: TeamRow | None
    subject: Subject

    @property
    def resource(self) -> Team:
        if self.team is None:
            return Team(team_id=uuid.UUID(int=0))
        return Team(team_id=self.team.id, members_see_progress=self.team.members_see_progress)

    @property
    def role(self) -> TeamRole | None:
        return self.subject.team_role

    def require(self, action: Action) -> TeamRow:
        """The team, if the caller may do `action` in it; else 404 outside it, 403 inside."""
        require(self.subject, action, self.resource)
        assert self.team is not None  # nobody has a role in a team that does not exist
        return self.team

    def require_on(
        self, action: Action, account_id: uuid.UUID, role: str, to_role: str | None
    ) -> None:
        """The caller may do `action` to the member `account_id` of role `role` (giving it
        `to_role`, or removing it when None); or to an invite (`authz.INVITEE`)."""
        target = Member(
            team=self.resource,
            account_id=account_id,
            role=TeamRole(role),
            to_role=None if to_role is None else TeamRole(to_role),
        )
        require(self.subject, action, target)


async def standing(
    conn: AsyncConnection, account: Account, team_id: uuid.UUID, *, lock: bool = False
) -> Standing:
    """The caller's standing in the team, read in `conn`'s transaction (with `lock`, the
    team's row stays locked until it ends, for changes to the team's membership)."""
    team, role = await TeamRepository(conn).standing(team_id, account.id, lock=lock)
    return standing_of(account, team, role)


def standing_of(account: Account, team: TeamRow | None, role: str | None) -> Standing:
    """The caller's standing from its team and role as read (`TeamRepository.standing`)."""
    subject = Subject(
        account_id=account.id,
        platform_role=account.platform_role,
        team_role=None if role is None else TeamRole(role),
    )
    return Standing(team=team, subject=subject)
