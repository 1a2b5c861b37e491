"""SQL for teams. Every function takes the caller's connection; none commits.

A change to a team's membership reads the team `FOR UPDATE` first (`standing(lock=True)`), so
concurrent changes of one team take turns on PostgreSQL (SQLite writers take the database's
lock at BEGIN): two last owners cannot both leave, and caps cannot be overshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Select, and_, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.teams.tables import (
    team_hidden_topics,
    team_invites,
    team_members,
    team_roadmaps,
    teams,
)
from waymark.infra.sql.database import Database, HotRead

_m, _i, _r, _h = team_members, team_invites, team_roadmaps, team_hidden_topics


class TeamRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    members_see_progress: bool
    created_at: datetime
    updated_at: datetime


class MemberRow(msgspec.Struct, kw_only=True):
    account_id: uuid.UUID
    role: str
    joined_at: datetime


class InviteRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    team_id: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID | None
    created_at: datetime
    sent_at: datetime
    expires_at: datetime


class AssignedRoadmap(msgspec.Struct, kw_only=True):
    roadmap_id: int
    slug: str
    assigned_at: datetime
    hidden: list[str]


class MyTeam(msgspec.Struct, kw_only=True):
    team: TeamRow
    role: str
    member_count: int


_TEAM_COLUMNS = [teams.c[name] for name in TeamRow.__struct_fields__]
_MEMBER_COLUMNS = [_m.c.user_id.label("account_id"), _m.c.role, _m.c.joined_at]
_INVITE_COLUMNS = [_i.c[name] for name in InviteRow.__struct_fields__]


def _standing_query() -> Select[Any]:
    """The team and the account's role in it (NULL if it is not a member), one row at most."""
    member = and_(
        _m.c.team_id == teams.c.id,
        _m.c.user_id == bindparam("account_id", type_=_m.c.user_id.type),
    )
    return (
        select(*_TEAM_COLUMNS, _m.c.role)
        .select_from(teams.outerjoin(_m, member))
        .where(teams.c.id == bindparam("team_id", type_=teams.c.id.type))
    )


def _roadmaps_query(*, one: bool) -> Select[Any]:
    """The team's roadmaps (with `one`, the one of slug `slug`) with their hidden topics, a
    row per hidden topic (one with none), by slug."""
    query = (
        select(_r.c.roadmap_id, _r.c.slug, _r.c.assigned_at, _h.c.topic_key)
        .select_from(
            _r.outerjoin(_h, and_(_h.c.team_id == _r.c.team_id, _h.c.roadmap_id == _r.c.roadmap_id))
        )
        .where(_r.c.team_id == bindparam("team_id", type_=_r.c.team_id.type))
        .order_by(_r.c.slug, _h.c.topic_key)
    )
    if one:
        query = query.where(_r.c.slug == bindparam("slug", type_=_r.c.slug.type))
    return query


_STANDING = _standing_query()
_STANDING_LOCKED = _STANDING.with_for_update(of=teams)
_ROADMAPS = _roadmaps_query(one=False)
_ROADMAP = _roadmaps_query(one=True)
_MEMBERS = (
    select(*_MEMBER_COLUMNS)
    .where(_m.c.team_id == bindparam("team_id", type_=_m.c.team_id.type))
    .order_by(_m.c.joined_at, _m.c.user_id)
)
# What a team's progress report reads on every view (`Reports`), straight to the driver.
_HOT_STANDING, _HOT_ROADMAP, _HOT_MEMBERS = HotRead(_STANDING), HotRead(_ROADMAP), HotRead(_MEMBERS)


def _team(row: Mapping[Any, Any]) -> TeamRow:
    return TeamRow(**{name: row[name] for name in TeamRow.__struct_fields__})


def _standing(row: Mapping[Any, Any] | None) -> tuple[TeamRow | None, str | None]:
    return (None, None) if row is None else (_team(row), row["role"])


def _assigned(rows: Iterable[Mapping[Any, Any]]) -> list[AssignedRoadmap]:
    found: dict[int, AssignedRoadmap] = {}
    for row in rows:
        assigned = found.get(row["roadmap_id"])
        if assigned is None:
            assigned = found[row["roadmap_id"]] = AssignedRoadmap(
                roadmap_id=row["roadmap_id"],
                slug=row["slug"],
                assigned_at=row["assigned_at"],
                hidden=[],
            )
        if row["topic_key"] is not None:
            assigned.hidden.append(row["topic_key"])
    return list(found.values())


class HotTeamReads:
    """`TeamRepository`'s reads that a team's progress report makes on every view, each a
    `HotRead` on a connection of its own (what is committed; no caller's transaction)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def standing(
        self, team_id: uuid.UUID, account_id: uuid.UUID
    ) -> tuple[TeamRow | None, str | None]:
        """`TeamRepository.standing`, unlocked."""
        return _standing(
            await _HOT_STANDING.fetch(self.db, {"team_id": team_id, "account_id": account_id})
        )

    async def roadmap(self, team_id: uuid.UUID, slug: str) -> list[AssignedRoadmap]:
        """`TeamRepository.roadmaps(team_id, slug=slug)`."""
        return _assigned(await _HOT_ROADMAP.fetch_all(self.db, {"team_id": team_id, "slug": slug}))

    async def members(self, team_id: uuid.UUID) -> list[MemberRow]:
        """`TeamRepository.members`."""
        rows = await _HOT_MEMBERS.fetch_all(self.db, {"team_id": team_id})
        return [MemberRow(**row) for row in rows]


class TeamRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- teams -------------------------------------------------------------------------------

    async def insert_team(
        self, team_id: uuid.UUID, *, name: str, members_see_progress: bool, now: datetime
    ) -> None:
        await self.conn.execute(
            insert(teams).values(
                id=team_id,
                name=name,
                members_see_progress=members_see_progress,
                created_at=now,
                updated_at=now,
            )
        )

    async def standing(
        self, team_id: uuid.UUID, account_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[TeamRow | None, str | None]:
        """The team and the account's role in it (None if it is not a member), in one
        statement; with `lock`, the team's row is locked until the transaction ends."""
        query = _STANDING_LOCKED if lock else _STANDING
        row = (
            await self.conn.execute(query, {"team_id": team_id, "account_id": account_id})
        ).first()
        return _standing(None if row is None else row._mapping)

    async def lock(self, team_id: uuid.UUID) -> bool:
        """Lock the team's row until the transaction ends; False if there is no such team."""
        query = select(teams.c.id).where(teams.c.id == team_id).with_for_update()
        return (await self.conn.execute(query)).first() is not None

    async def update_team(self, team_id: uuid.UUID, *, now: datetime, **values: Any) -> None:
        await self.conn.execute(
            update(teams).where(teams.c.id == team_id).values(updated_at=now, **values)
        )

    async def delete_team(self, team_id: uuid.UUID) -> None:
        await self.conn.execute(delete(teams).where(teams.c.id == team_id))

    async def mine(self, account_id: uuid.UUID) -> list[MyTeam]:
        """The account's teams, with its role and each team's member count, by name."""
        count = (
            select(func.count())
            .where(_m.c.team_id == teams.c.id)
            .correlate(teams)
            .scalar_subquery()
            .label("member_count")
        )
        mine = _m.alias("mine")
        rows = await self.conn.execute(
            select(*_TEAM_COLUMNS, mine.c.role, count)
            .select_from(teams.join(mine, mine.c.team_id == teams.c.id))
            .where(mine.c.user_id == account_id)
            .order_by(teams.c.name, teams.c.id)
        )
        return [
            MyTeam(team=_team(row._mapping), role=row.role, member_count=row.member_count)
            for row in rows
        ]

    async def teammates_on(self, account_id: uuid.UUID, slug: str) -> list[tuple[Any, ...]]:
        """(team id, team name, other member's id) for every other member of each team of
        `account_id` that follows roadmap `slug`, by team name."""
        mine, other = _m.alias("mine"), _m.alias("other")
        rows = await self.conn.execute(
            select(teams.c.id, teams.c.name, other.c.user_id)
            .select_from(
                mine.join(teams, teams.c.id == mine.c.team_id)
                .join(_r, (_r.c.team_id == teams.c.id) & (_r.c.slug == slug))
                .join(other, (other.c.team_id == teams.c.id) & (other.c.user_id != mine.c.user_id))
            )
            .where(mine.c.user_id == account_id)
            .order_by(teams.c.name, teams.c.id, other.c.joined_at, other.c.user_id)
        )
        return [tuple(row) for row in rows]

    # -- members -----------------------------------------------------------------------------

    async def following(self, account_id: uuid.UUID, slug: str) -> list[uuid.UUID]:
        """The teams the account is a member of that follow the roadmap `slug`."""
        rows = await self.conn.execute(
            select(_m.c.team_id)
            .join(_r, _r.c.team_id == _m.c.team_id)
            .where(_m.c.user_id == account_id, _r.c.slug == slug)
            .order_by(_m.c.team_id)
        )
        return list(rows.scalars())

    async def members(self, team_id: uuid.UUID) -> list[MemberRow]:
        """Longest-standing first."""
        rows = await self.conn.execute(_MEMBERS, {"team_id": team_id})
        return [MemberRow(**row._mapping) for row in rows]

    async def member(self, team_id: uuid.UUID, account_id: uuid.UUID) -> MemberRow | None:
        row = (
            await self.conn.execute(
                select(*_MEMBER_COLUMNS).where(_m.c.team_id == team_id, _m.c.user_id == account_id)
            )
        ).first()
        return MemberRow(**row._mapping) if row else None

    async def count_members(self, team_id: uuid.UUID, *, role: str | None = None) -> int:
        query = select(func.count()).where(_m.c.team_id == team_id)
        if role is not None:
            query = query.where(_m.c.role == role)
        return int(await self.conn.scalar(query) or 0)

    async def add_member(
        self, team_id: uuid.UUID, account_id: uuid.UUID, role: str, *, now: datetime
    ) -> None:
        await self.conn.execute(
            insert(_m).values(team_id=team_id, user_id=account_id, role=role, joined_at=now)
        )

    async def set_role(self, team_id: uuid.UUID, account_id: uuid.UUID, role: str) -> None:
        await self.conn.execute(
            update(_m).where(_m.c.team_id == team_id, _m.c.user_id == account_id).values(role=role)
        )

    async def remove_member(self, team_id: uuid.UUID, account_id: uuid.UUID) -> None:
        await self.conn.execute(
            delete(_m).where(_m.c.team_id == team_id, _m.c.user_id == account_id)
        )

    async def ownerless(self) -> list[uuid.UUID]:
        """Teams with no owner (their owner's account was deleted), oldest first."""
        owned = exists().where(_m.c.team_id == teams.c.id, _m.c.role == "owner")
        rows = await self.conn.execute(
            select(teams.c.id).where(~owned).order_by(teams.c.created_at, teams.c.id)
        )
        return [row.id for row in rows]

    # -- invites -----------------------------------------------------------------------------

    async def insert_invite(self, invite: InviteRow, *, token_hash: str) -> None:
        await self.conn.execute(
            insert(_i).values(token_hash=token_hash, **msgspec.structs.asdict(invite))
        )

    async def invite(self, team_id: uuid.UUID, invite_id: uuid.UUID) -> InviteRow | None:
        row = (
            await self.conn.execute(
                select(*_INVITE_COLUMNS).where(_i.c.team_id == team_id, _i.c.id == invite_id)
            )
        ).first()
        return InviteRow(**row._mapping) if row else None

    async def invite_by_token(self, token_hash: str, *, now: datetime) -> InviteRow | None:
        """The live invite with this token (not expired); None otherwise."""
        return await self._live_invite(_i.c.token_hash == token_hash, now)

    async def live_invite(self, invite_id: uuid.UUID, *, now: datetime) -> InviteRow | None:
        """The live invite `invite_id` (not expired); None otherwise."""
        return await self._live_invite(_i.c.id == invite_id, now)

    async def _live_invite(self, which: Any, now: datetime) -> InviteRow | None:
        row = (
            await self.conn.execute(select(*_INVITE_COLUMNS).where(which, _i.c.expires_at > now))
        ).first()
        return InviteRow(**row._mapping) if row else None

    async def live_invites_to(self, email: str, *, now: datetime) -> list[tuple[InviteRow, str]]:
        """The live invites to `email`, each with its team's name, newest first."""
        rows = await self.conn.execute(
            select(*_INVITE_COLUMNS, teams.c.name.label("team_name"))
            .join(teams, teams.c.id == _i.c.team_id)
            .where(_i.c.email == email, _i.c.expires_at > now)
            .order_by(_i.c.created_at.desc(), _i.c.id)
        )
        return [
            (InviteRow(**{k: row._mapping[k] for k in InviteRow.__struct_fields__}), row.team_name)
            for row in rows
        ]

    async def invite_to(self, team_id: uuid.UUID, email: str) -> InviteRow | None:
        row = (
            await self.conn.execute(
                select(*_INVITE_COLUMNS).where(_i.c.team_id == team_id, _i.c.email == email)
            )
        ).first()
        return InviteRow(**row._mapping) if row else None

    async def invites(self, team_id: uuid.UUID) -> list[InviteRow]:
        """Newest first."""
        rows = await self.conn.execute(
            select(*_INVITE_COLUMNS)
            .where(_i.c.team_id == team_id)
            .order_by(_i.c.created_at.desc(), _i.c.id)
        )
        return [InviteRow(**row._mapping) for row in rows]

    async def count_live_invites(self, team_id: uuid.UUID, *, now: datetime) -> int:
        query = select(func.count()).where(_i.c.team_id == team_id, _i.c.expires_at > now)
        return int(await self.conn.scalar(query) or 0)

    async def renew_invite(
        self, invite_id: uuid.UUID, *, token_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        """A new token (the old one dies) and a new expiry."""
        await self.conn.execute(
            update(_i)
            .where(_i.c.id == invite_id)
            .values(token_hash=token_hash, sent_at=now, expires_at=expires_at)
        )

    async def take_invite(self, invite_id: uuid.UUID) -> bool:
        """Delete the invite; False if another request took it first."""
        result = await self.conn.execute(delete(_i).where(_i.c.id == invite_id))
        return result.rowcount == 1

    async def delete_expired_invites(self, now: datetime) -> int:
        result = await self.conn.execute(delete(_i).where(_i.c.expires_at <= now))
        return int(result.rowcount or 0)

    # -- roadmaps ----------------------------------------------------------------------------

    async def roadmaps(
        self, team_id: uuid.UUID, *, slug: str | None = None
    ) -> list[AssignedRoadmap]:
        """The team's roadmaps (or the one with `slug`) with their hidden topics, in one
        statement, by slug."""
        if slug is None:
            rows = await self.conn.execute(_ROADMAPS, {"team_id": team_id})
        else:
            rows = await self.conn.execute(_ROADMAP, {"team_id": team_id, "slug": slug})
        return _assigned(row._mapping for row in rows)

    async def count_roadmaps(self, team_id: uuid.UUID) -> int:
        return int(await self.conn.scalar(select(func.count()).where(_r.c.team_id == team_id)) or 0)

    async def assign(
        self, team_id: uuid.UUID, roadmap_id: int, slug: str, *, now: datetime
    ) -> None:
        await self.conn.execute(
            insert(_r).values(team_id=team_id, roadmap_id=roadmap_id, slug=slug, assigned_at=now)
        )

    async def unassign(self, team_id: uuid.UUID, roadmap_id: int) -> None:
        """Its hidden topics go with it (cascade)."""
        await self.conn.execute(
            delete(_r).where(_r.c.team_id == team_id, _r.c.roadmap_id == roadmap_id)
        )

    async def set_hidden(self, team_id: uuid.UUID, roadmap_id: int, topics: Sequence[str]) -> None:
        """Replace the hidden topics of one of the team's roadmaps."""
        await self.conn.execute(
            delete(_h).where(_h.c.team_id == team_id, _h.c.roadmap_id == roadmap_id)
        )
        if topics:
            await self.conn.execute(
                insert(_h),
                [{"team_id": team_id, "roadmap_id": roadmap_id, "topic_key": t} for t in topics],
            )
