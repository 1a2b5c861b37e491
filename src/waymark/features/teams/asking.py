"""What other features may ask of teams about one team, without its tables: whether a caller
may do an action in it (the check every team use case makes: 404 outside, 403 to a role that
falls short), which teams of a learner follow a roadmap (read in the asker's transaction),
and the addresses of its admins (owner included), to tell them of something about the team.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.teams.repository import TeamRepository
from waymark.features.teams.use_cases import TeamUseCases, standing
from waymark.kernel.authz import RANK, TEAM_ROLE_OF, Action, TeamRole
from waymark.kernel.identity import Account


class TeamRef(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str


class TeamAdmins(msgspec.Struct, frozen=True, kw_only=True):
    team: TeamRef
    addresses: list[str]


NOBODY = uuid.UUID(int=0)


@dataclass(kw_only=True, eq=False)
class Asking(TeamUseCases):
    @staticmethod
    async def require(
        conn: AsyncConnection, account: Account, team_id: uuid.UUID, action: Action
    ) -> TeamRef:
        """The team, if the caller may do `action` in it now (read in `conn`'s transaction,
        the asker's); else 404 or 403."""
        caller = await standing(conn, account, team_id)
        team = caller.require(action)
        return TeamRef(id=team.id, name=team.name)

    @staticmethod
    async def following(conn: AsyncConnection, account_id: uuid.UUID, slug: str) -> list[uuid.UUID]:
        """The teams `account_id` is in that follow roadmap `slug`, in `conn`'s transaction."""
        return await TeamRepository(conn).following(account_id, slug)

    async def admins(self, conn: AsyncConnection, team_id: uuid.UUID) -> TeamAdmins | None:
        """The team's name and the addresses of its admins and owner (enabled accounts
        only), read in `conn`'s transaction; None if the team is gone."""
        repo = TeamRepository(conn)
        team, _ = await repo.standing(team_id, NOBODY)
        if team is None:
            return None
        rows = await repo.members(team_id)
        admins = [
            row.account_id for row in rows if RANK[TEAM_ROLE_OF[row.role]] >= RANK[TeamRole.ADMIN]
        ]
        found = await self.profiles.many(admins)
        addresses = [found[a].email for a in admins if a in found and not found[a].disabled]
        return TeamAdmins(team=TeamRef(id=team.id, name=team.name), addresses=addresses)
