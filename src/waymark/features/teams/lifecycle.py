"""A team's own use cases: create one, list the caller's, read, rename and set, delete, and
hand the team over to another member."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.teams.limits import CREATE_ACCOUNT
from waymark.features.teams.messages import membership_changed
from waymark.features.teams.repository import AssignedRoadmap, TeamRepository, TeamRow
from waymark.features.teams.roadmaps import roadmap_view
from waymark.features.teams.schemas import TeamDetail, TeamSummary
from waymark.features.teams.use_cases import TeamUseCases, standing
from waymark.kernel.authz import PLATFORM, Action, Subject, TeamRole, require
from waymark.kernel.errors import FieldError, ValidationFailed
from waymark.kernel.identity import Account

SUCCESSION = (TeamRole.ADMIN, TeamRole.MANAGER, TeamRole.MEMBER)
"""Who becomes the owner of a team whose owner is gone, in order (the longest-standing of
the first role anyone has)."""


@dataclass(kw_only=True, eq=False)
class Lifecycle(TeamUseCases):
    async def create(
        self, account: Account, *, name: str, members_see_progress: bool = False
    ) -> TeamDetail:
        """A new team, with the caller as its owner (`teams.create` on the platform)."""
        caller = Subject(account_id=account.id, platform_role=account.platform_role)
        require(caller, Action.TEAMS_CREATE, PLATFORM)
        await self.throttle.check((CREATE_ACCOUNT, str(account.id)))
        team_id = uuid.uuid4()
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repo = TeamRepository(conn)
            await repo.insert_team(
                team_id, name=name, members_see_progress=members_see_progress, now=now
            )
            await repo.add_member(team_id, account.id, TeamRole.OWNER, now=now)
        team = TeamRow(
            id=team_id,
            name=name,
            members_see_progress=members_see_progress,
            created_at=now,
            updated_at=now,
        )
        return await self._detail(team, TeamRole.OWNER, 1, [])

    async def mine(self, account: Account) -> list[TeamSummary]:
        """The caller's teams with its role in each, by name."""
        async with self.db.read() as conn:
            rows = await TeamRepository(conn).mine(account.id)
        return [
            TeamSummary(
                id=row.team.id,
                name=row.team.name,
                role=TeamRole(row.role),
                members_see_progress=row.team.members_see_progress,
                member_count=row.member_count,
                created_at=row.team.created_at,
            )
            for row in rows
        ]

    async def get(self, account: Account, team_id: uuid.UUID) -> TeamDetail:
        """The team, its settings and roadmaps (each with its hidden topics)."""
        async with self.db.read() as conn:
            caller = await standing(conn, account, team_id)
            team = caller.require(Action.TEAM_READ)
            repo = TeamRepository(conn)
            count = await repo.count_members(team_id)
            roadmaps = await repo.roadmaps(team_id)
        assert caller.role is not None
        return await self._detail(team, caller.role, count, roadmaps)

    async def update(
        self, account: Account, team_id: uuid.UUID, changes: Mapping[str, str | bool]
    ) -> TeamDetail:
        """Rename the team or change its settings (`members_see_progress`)."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            team = caller.require(Action.TEAM_UPDATE)
            repo = TeamRepository(conn)
            now = self.clock.now()
            if changes:
                await repo.update_team(team_id, now=now, **changes)
                if changes.get("members_see_progress", team.members_see_progress) != (
                    team.members_see_progress
                ):
                    await membership_changed(
                        self.outbox, conn, team_id, None, "settings-changed", role=None, at=now
                    )
                team = msgspec.structs.replace(team, **changes, updated_at=now)
            count = await repo.count_members(team_id)
            roadmaps = await repo.roadmaps(team_id)
        assert caller.role is not None
        return await self._detail(team, caller.role, count, roadmaps)

    async def delete(self, account: Account, team_id: uuid.UUID) -> None:
        """Delete the team, its memberships, invites and roadmaps (the owner only)."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.TEAM_DELETE)
            await TeamRepository(conn).delete_team(team_id)
            await membership_changed(
                self.outbox, conn, team_id, None, "team-deleted", role=None, at=self.clock.now()
            )

    async def transfer(
        self, account: Account, team_id: uuid.UUID, to_account: uuid.UUID
    ) -> TeamDetail:
        """Make member `to_account` the owner; the caller, the owner until now, becomes an
        admin. The caller's privileges changed: a browser session should be renewed
        (`kernel.ports.SessionRenewal`)."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            team = caller.require(Action.TEAM_TRANSFER)
            repo = TeamRepository(conn)
            heir = await repo.member(team_id, to_account)
            if heir is None or to_account == account.id:
                raise ValidationFailed(
                    [FieldError("account_id", "not another member of this team")]
                )
            await repo.set_role(team_id, to_account, TeamRole.OWNER)
            await repo.set_role(team_id, account.id, TeamRole.ADMIN)
            for member, role in ((to_account, TeamRole.OWNER), (account.id, TeamRole.ADMIN)):
                await membership_changed(
                    self.outbox,
                    conn,
                    team_id,
                    member,
                    "role-changed",
                    role=role,
                    at=self.clock.now(),
                )
            count = await repo.count_members(team_id)
            roadmaps = await repo.roadmaps(team_id)
        return await self._detail(team, TeamRole.ADMIN, count, roadmaps)

    async def settle_ownerless(self, conn: AsyncConnection) -> dict[uuid.UUID, uuid.UUID | None]:
        """Give every team left without an owner (its owner's account was deleted, and the
        membership with it) a new one: its longest-standing admin, else manager, else
        member; a team with nobody left is deleted. On the caller's connection (the
        `accounts.deleted` handler's transaction). Returns each team's new owner (None:
        deleted). Idempotent: a second run finds no team without an owner."""
        repo = TeamRepository(conn)
        settled: dict[uuid.UUID, uuid.UUID | None] = {}
        for team_id in await repo.ownerless():
            if not await repo.lock(team_id):
                continue
            members = await repo.members(team_id)  # longest-standing first
            if any(member.role == TeamRole.OWNER for member in members):
                continue  # settled meanwhile
            heir = next(
                (member for role in SUCCESSION for member in members if member.role == role),
                None,
            )
            if heir is None:
                await repo.delete_team(team_id)
            else:
                await repo.set_role(team_id, heir.account_id, TeamRole.OWNER)
            settled[team_id] = None if heir is None else heir.account_id
        return settled

    async def _detail(
        self, team: TeamRow, role: TeamRole, count: int, roadmaps: list[AssignedRoadmap]
    ) -> TeamDetail:
        return TeamDetail(
            id=team.id,
            name=team.name,
            role=role,
            members_see_progress=team.members_see_progress,
            member_count=count,
            roadmaps=[await roadmap_view(self.catalog, assigned) for assigned in roadmaps],
            created_at=team.created_at,
            updated_at=team.updated_at,
        )
