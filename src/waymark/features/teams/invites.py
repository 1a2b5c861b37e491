"""Invites: an offer of a role in a team to one address, mailed as a single-use link that
lives `INVITE_DAYS` days. Only the token's SHA-256 is kept; resending mails a new token (the
old one dies), and accepting, declining or revoking deletes the invite.

An invite is bound to the address it was sent to: only the signed-in account with exactly
that (canonical, confirmed) address may read, accept or decline it. For anyone else, an
invite that exists answers as one that does not (404 `invalid-invite`), so a leaked link
is worth nothing and tells nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.teams.errors import (
    AlreadyInvited,
    AlreadyMember,
    InvalidInvite,
    TeamFull,
    TooManyInvites,
)
from waymark.features.teams.limits import (
    INVITE_ACCOUNT,
    INVITE_DAYS,
    INVITE_TEAM,
    MAX_MEMBERS,
    MAX_PENDING_INVITES,
)
from waymark.features.teams.messages import TeamInvited, mail_invite, publish_invited
from waymark.features.teams.repository import InviteRow, TeamRepository, TeamRow
from waymark.features.teams.schemas import (
    Invite,
    InvitePreview,
    MyInvite,
    OfferedRole,
    TeamSummary,
)
from waymark.features.teams.use_cases import Standing, TeamUseCases, standing
from waymark.kernel.authz import INVITEE, Action, TeamRole
from waymark.kernel.errors import NotFound
from waymark.kernel.identity import Account, hash_token, new_token

LIFETIME = timedelta(days=INVITE_DAYS)


@dataclass(kw_only=True, eq=False)
class Invites(TeamUseCases):
    # -- the team's side ---------------------------------------------------------------------

    async def invite(
        self, account: Account, team_id: uuid.UUID, *, email: str, role: OfferedRole
    ) -> Invite:
        """Mail canonical `email` an invite to `role` (below the caller's role). Refused
        when the address's account is a member already, the team is full, the address has a
        pending invite, or the team has `MAX_PENDING_INVITES`; rate limited per team and
        per inviter, counted once the caller is known to be allowed."""
        async with self.db.read() as conn:
            self._may_offer(await standing(conn, account, team_id), role)
        await self.throttle.check((INVITE_TEAM, str(team_id)), (INVITE_ACCOUNT, str(account.id)))
        invitee = await self.profiles.id_of(email)
        token = new_token()
        async with self.db.transaction() as conn:
            # Again, in the transaction that writes: the caller's role may have changed.
            caller = await standing(conn, account, team_id, lock=True)
            team = self._may_offer(caller, role)
            repo = TeamRepository(conn)
            if invitee is not None and await repo.member(team_id, invitee) is not None:
                raise AlreadyMember(f"{email} is a member of this team already")
            if await repo.count_members(team_id) >= MAX_MEMBERS:
                raise TeamFull()
            now = self.clock.now()
            earlier = await repo.invite_to(team_id, email)
            if earlier is not None:
                if earlier.expires_at > now:
                    raise AlreadyInvited()
                await repo.take_invite(earlier.id)  # expired: make room for the new one
            if await repo.count_live_invites(team_id, now=now) >= MAX_PENDING_INVITES:
                raise TooManyInvites()
            row = InviteRow(
                id=uuid.uuid4(),
                team_id=team_id,
                email=email,
                role=role,
                invited_by=account.id,
                created_at=now,
                sent_at=now,
                expires_at=now + LIFETIME,
            )
            await repo.insert_invite(row, token_hash=hash_token(token))
            await self._mail(conn, row, token, team, account)
            await publish_invited(
                self.outbox,
                conn,
                TeamInvited(
                    team_id=str(team_id),
                    team_name=team.name,
                    invite_id=str(row.id),
                    email=email,
                    account_id=None if invitee is None else str(invitee),
                    invited_by=str(account.id),
                    inviter_name=account.display_name,
                    role=role,
                    expires_at=row.expires_at,
                ),
            )
        return _view(row, now)

    async def of_team(self, account: Account, team_id: uuid.UUID) -> list[Invite]:
        """The team's invites not yet accepted, declined or revoked (expired ones say so),
        newest first."""
        async with self.db.read() as conn:
            caller = await standing(conn, account, team_id)
            caller.require(Action.INVITES_READ)
            rows = await TeamRepository(conn).invites(team_id)
        now = self.clock.now()
        return [_view(row, now) for row in rows]

    async def resend(self, account: Account, team_id: uuid.UUID, invite_id: uuid.UUID) -> Invite:
        """Mail the invite again with a new token and a new expiry; the old token dies.
        Rate limited as a new invite is."""
        async with self.db.read() as conn:
            caller = await standing(conn, account, team_id)
            caller.require(Action.INVITES_MANAGE)
            invite = await self._invite(TeamRepository(conn), team_id, invite_id)
            self._may_offer(caller, invite.role)
        await self.throttle.check((INVITE_TEAM, str(team_id)), (INVITE_ACCOUNT, str(account.id)))
        token = new_token()
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.INVITES_MANAGE)
            repo = TeamRepository(conn)
            invite = await self._invite(repo, team_id, invite_id)
            team = self._may_offer(caller, invite.role)
            now = self.clock.now()
            invite.sent_at, invite.expires_at = now, now + LIFETIME
            await repo.renew_invite(
                invite_id, token_hash=hash_token(token), now=now, expires_at=invite.expires_at
            )
            await self._mail(conn, invite, token, team, account)
        return _view(invite, now)

    async def revoke(self, account: Account, team_id: uuid.UUID, invite_id: uuid.UUID) -> None:
        """Withdraw an invite: its link stops working."""
        async with self.db.transaction() as conn:
            caller = await standing(conn, account, team_id, lock=True)
            caller.require(Action.INVITES_MANAGE)
            repo = TeamRepository(conn)
            invite = await self._invite(repo, team_id, invite_id)
            self._may_offer(caller, invite.role)
            await repo.take_invite(invite_id)

    # -- the invited address's side ----------------------------------------------------------

    async def preview(self, account: Account, token: str) -> InvitePreview:
        """What the invite is for (team, role, inviter), to the invited address's account."""
        async with self.db.read() as conn:
            invite = await self._addressed_to(conn, account, token)
            team, _ = await TeamRepository(conn).standing(invite.team_id, account.id)
        assert team is not None  # the invite would have gone with it
        found = await self.profiles.many([] if invite.invited_by is None else [invite.invited_by])
        inviter = _name(found, invite.invited_by)
        return InvitePreview(
            team_id=team.id,
            team_name=team.name,
            role=TeamRole(invite.role),
            email=invite.email,
            invited_by=inviter,
            expires_at=invite.expires_at,
        )

    async def mine(self, account: Account) -> list[MyInvite]:
        """The live invites to the caller's confirmed address, newest first: what an account
        that exists already is told of in the app (a `team-invite` notification links
        here), to accept or decline by the invite's id without the mailed token. The token
        proves the address's mailbox; a confirmed address of the signed-in account proved
        it too, and only that account may use the invite either way."""
        if not account.email_verified:
            return []
        async with self.db.read() as conn:
            found = await TeamRepository(conn).live_invites_to(account.email, now=self.clock.now())
        inviters = await self.profiles.many(
            {invite.invited_by for invite, _ in found if invite.invited_by is not None}
        )
        return [
            MyInvite(
                id=invite.id,
                team_id=invite.team_id,
                team_name=team_name,
                role=TeamRole(invite.role),
                invited_by=_name(inviters, invite.invited_by),
                expires_at=invite.expires_at,
            )
            for invite, team_name in found
        ]

    async def accept_mine(self, account: Account, invite_id: uuid.UUID) -> TeamSummary:
        """`accept`, the invite found by its id among the caller's (`mine`)."""
        async with self.db.transaction() as conn:
            invite = await self._mine(conn, account, invite_id)
            return await self._join(conn, account, invite)

    async def decline_mine(self, account: Account, invite_id: uuid.UUID) -> None:
        """`decline`, the invite found by its id among the caller's (`mine`)."""
        async with self.db.transaction() as conn:
            invite = await self._mine(conn, account, invite_id)
            await TeamRepository(conn).take_invite(invite.id)

    async def accept(self, account: Account, token: str) -> TeamSummary:
        """Join the team in the invite's role; the invite is used up. The caller gained a
        role: a browser session should be renewed (`kernel.ports.SessionRenewal`)."""
        async with self.db.transaction() as conn:
            invite = await self._addressed_to(conn, account, token)
            return await self._join(conn, account, invite)

    async def _join(
        self, conn: AsyncConnection, account: Account, invite: InviteRow
    ) -> TeamSummary:
        """The caller joins the team of `invite` (addressed to it) in the invite's role."""
        caller = await standing(conn, account, invite.team_id, lock=True)
        if caller.team is None:
            raise InvalidInvite()
        if caller.role is not None:
            raise AlreadyMember("you are a member of this team already")
        repo = TeamRepository(conn)
        count = await repo.count_members(invite.team_id)
        if count >= MAX_MEMBERS:
            raise TeamFull()
        if not await repo.take_invite(invite.id):  # used by a request just before
            raise InvalidInvite()
        await repo.add_member(invite.team_id, account.id, invite.role, now=self.clock.now())
        team = caller.team
        return TeamSummary(
            id=team.id,
            name=team.name,
            role=TeamRole(invite.role),
            members_see_progress=team.members_see_progress,
            member_count=count + 1,
            created_at=team.created_at,
        )

    async def decline(self, account: Account, token: str) -> None:
        """Turn the invite down; it is gone (the team sees it no more)."""
        async with self.db.transaction() as conn:
            invite = await self._addressed_to(conn, account, token)
            await TeamRepository(conn).take_invite(invite.id)

    async def delete_expired(self, now: datetime) -> int:
        """Housekeeping: delete invites that expired (their links are dead already)."""
        async with self.db.transaction() as conn:
            return await TeamRepository(conn).delete_expired_invites(now)

    # -- helpers -----------------------------------------------------------------------------

    async def _addressed_to(self, conn: AsyncConnection, account: Account, token: str) -> InviteRow:
        invite = await TeamRepository(conn).invite_by_token(hash_token(token), now=self.clock.now())
        return _addressed(invite, account)

    async def _mine(
        self, conn: AsyncConnection, account: Account, invite_id: uuid.UUID
    ) -> InviteRow:
        invite = await TeamRepository(conn).live_invite(invite_id, now=self.clock.now())
        return _addressed(invite, account)

    @staticmethod
    def _may_offer(caller: Standing, role: str) -> TeamRow:
        """The team, if the caller may invite to `role` (below its own)."""
        team = caller.require(Action.INVITES_MANAGE)
        caller.require_on(Action.INVITES_MANAGE, INVITEE, role, role)
        return team

    @staticmethod
    async def _invite(repo: TeamRepository, team_id: uuid.UUID, invite_id: uuid.UUID) -> InviteRow:
        invite = await repo.invite(team_id, invite_id)
        if invite is None:
            raise NotFound("no such invite in this team")
        return invite

    async def _mail(
        self, conn: AsyncConnection, invite: InviteRow, token: str, team: TeamRow, by: Account
    ) -> None:
        await mail_invite(
            self.outbox,
            conn,
            to=invite.email,
            link=f"{self.public_url.rstrip('/')}/invites/{token}",
            team=team.name,
            # Never the inviter's address: the invitee is anyone an admin typed in.
            inviter=by.display_name or "A member of the team",
            role=invite.role,
            days=INVITE_DAYS,
        )


def _addressed(invite: InviteRow | None, account: Account) -> InviteRow:
    """The invite, if it is live and addressed to the caller's confirmed address."""
    if invite is None or not account.email_verified or invite.email != account.email:
        raise InvalidInvite()
    return invite


def _name(people: Mapping[uuid.UUID, Account], account_id: uuid.UUID | None) -> str | None:
    """A display name (empty if none set); None when the account is gone."""
    found = None if account_id is None else people.get(account_id)
    return None if found is None else found.display_name


def _view(row: InviteRow, now: datetime) -> Invite:
    return Invite(
        id=row.id,
        email=row.email,
        role=TeamRole(row.role),
        invited_by=row.invited_by,
        created_at=row.created_at,
        sent_at=row.sent_at,
        expires_at=row.expires_at,
        expired=row.expires_at <= now,
    )
