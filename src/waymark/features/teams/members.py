"""A team's members: who they are, changing a member's role, removing one, and leaving."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.profile import Profiles
from waymark.features.teams.errors import LastOwner
from waymark.features.teams.messages import membership_changed
from waymark.features.teams.repository import MemberRow, TeamRepository
from waymark.features.teams.schemas import OfferedRole, Teammates, TeamMember
from waymark.features.teams.use_cases import TeamUseCases, standing
from waymark.kernel.authz import Action, TeamRole, last_owner_may_not_leave
from waymark.kernel.errors import NotFound
from waymark.kernel.identity import Account


@dataclass(kw_only=True, eq=False)
class Members(TeamUseCases):
    async def of_team(self, account: Account, team_id: uuid.UUID) -> list[TeamMember]:
        """The team's members, longest-standing first, with their display names and
        addresses (to the team's own members only)."""
        async with self.db.read() as conn:
            caller = await standing(conn, account, team_id)
            caller.require(Action.MEMBERS_READ)
            rows = await TeamRepository(conn).members(team_id)
        return await people(self.profiles, rows)

    @staticmethod
    async def teammates_on(
        conn: AsyncConnection, account_id: uuid.UUID, slug: str
    ) -> list[Teammates]:
        """The teams of `account_id` that follow roadmap `slug`, each with its other members,
        read in `conn`'s transaction: for features that tell a team what one of them did
        (no caller: asked by an outbox handler, never a request)."""
        found: dict[uuid.UUID, Teammates] = {}
        for team_id, name, member_id in await TeamRepository(conn).teammates_on(account_id, slug):
            team = found.setdefault(
                team_id, Teammates(team_id=team_id, team_name=name, account_ids=[])
            )
            team.account_ids.append(member_id)
        return list(found.values())

    async def change_role(
        self, account: Account, team_id: uuid.UUID, member_id: uuid.UUID, role: OfferedRole
    ) -> TeamMember:
        """Give a member another role, below the caller's (`owner` only by a transfer)."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.MEMBERS_MANAGE)
            repo = TeamRepository(conn)
            member = await self._member(repo, team_id, member_id)
            caller.require_on(Action.MEMBERS_MANAGE, member_id, member.role, role)
            if member.role != role:
                await repo.set_role(team_id, member_id, role)
                await membership_changed(
                    self.outbox,
                    conn,
                    team_id,
                    member_id,
                    "role-changed",
                    role=role,
                    at=self.clock.now(),
                )
        (shown,) = await people(self.profiles, [msgspec.structs.replace(member, role=role)])
        return shown

    async def remove(self, account: Account, team_id: uuid.UUID, member_id: uuid.UUID) -> None:
        """Take a member, of a role below the caller's, out of the team. Their next request
        has no role in it."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.MEMBERS_MANAGE)
            repo = TeamRepository(conn)
            member = await self._member(repo, team_id, member_id)
            caller.require_on(Action.MEMBERS_MANAGE, member_id, member.role, None)
            await repo.remove_member(team_id, member_id)
            await membership_changed(
                self.outbox, conn, team_id, member_id, "removed", role=None, at=self.clock.now()
            )

    async def leave(self, account: Account, team_id: uuid.UUID) -> None:
        """Leave the team; its last owner may not (409 `last-owner`)."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.TEAM_LEAVE)
            assert caller.role is not None
            repo = TeamRepository(conn)
            owners = await repo.count_members(team_id, role=TeamRole.OWNER)
            if last_owner_may_not_leave(caller.role, owners):
                raise LastOwner()
            await repo.remove_member(team_id, account.id)
            await membership_changed(
                self.outbox, conn, team_id, account.id, "left", role=None, at=self.clock.now()
            )

    @staticmethod
    async def _member(repo: TeamRepository, team_id: uuid.UUID, member_id: uuid.UUID) -> MemberRow:
        member = await repo.member(team_id, member_id)
        if member is None:
            raise NotFound("no such member of this team")
        return member


async def people(profiles: Profiles, rows: Sequence[MemberRow]) -> list[TeamMember]:
    """Members with their accounts' names and addresses (one read of accounts); accounts
    gone meanwhile are left out."""
    accounts = await profiles.many([row.account_id for row in rows])
    return [
        TeamMember(
            account_id=row.account_id,
            display_name=accounts[row.account_id].display_name,
            email=accounts[row.account_id].email,
            role=TeamRole(row.role),
            joined_at=row.joined_at,
        )
        for row in rows
        if row.account_id in accounts
    ]
