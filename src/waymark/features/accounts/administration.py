"""Running the platform: the directory of accounts and their platform roles, for platform
admins (`users.read`, `roles.grant`) over HTTP and for operators on the command line.

A role is read with the account on every request, never kept in a token or session, so a
grant or a revoke counts from the account's next request. Every change is audited on the
account it changes, naming who made it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.repository import AccountRepository, UserRow
from waymark.features.accounts.schemas import UserEntry
from waymark.features.accounts.use_cases import AccountUseCases
from waymark.kernel.authz import PLATFORM, Action, PlatformRole, require
from waymark.kernel.errors import Conflict, NotFound
from waymark.kernel.identity import Account, ClientInfo
from waymark.kernel.pagination import Page, decode_cursor, paginate


@dataclass(kw_only=True, eq=False)
class Administration(AccountUseCases):
    async def directory(
        self, actor: Account, *, cursor: str | None, limit: int, email_prefix: str = ""
    ) -> Page[UserEntry]:
        """Accounts by address (`email_prefix`: only those starting so), a page at a time."""
        require(actor.subject(), Action.USERS_READ, PLATFORM)
        after = decode_cursor(cursor) if cursor else None
        async with self.db.read() as conn:
            rows = await AccountRepository(conn).directory(
                after=after, limit=limit + 1, email_prefix=email_prefix
            )
        return paginate([UserEntry.of(row.view()) for row in rows], limit, key=lambda u: u.email)

    async def set_role(
        self, actor: Account, user_id: uuid.UUID, role: PlatformRole, *, client: ClientInfo
    ) -> UserEntry:
        """A platform admin gives account `user_id` the platform `role`. Not their own: the
        last admin cannot lock everyone out, and nobody raises or lowers themselves."""
        require(actor.subject(), Action.ROLES_GRANT, PLATFORM)
        if user_id == actor.id:
            raise Conflict("you cannot change your own platform role")
        async with self.db.transaction() as conn:
            user = await AccountRepository(conn).user_by_id(user_id)
            if user is None:
                raise NotFound("no such account")
            await self._change(conn, user, role, by=f"admin:{actor.id}", client=client)
            user = await AccountRepository(conn).user_by_id(user_id)
        assert user is not None
        return UserEntry.of(user.view())

    async def set_role_by_email(
        self, email: str, role: PlatformRole, *, unless: PlatformRole | None = None, by: str
    ) -> PlatformRole | None:
        """An operator's grant or revoke (`waymark users grant|revoke`), by canonical `email`.
        `unless`: only if its role is that one now (a revoke takes back the role it names,
        and no other). Returns the role it had; None if there is no such account."""
        async with self.db.transaction() as conn:
            user = await AccountRepository(conn).user_by_email(email)
            if user is None:
                return None
            had = PlatformRole(user.platform_role)
            if unless is not None and had != unless:
                raise Conflict(f"{email} is {had}, not {unless}")
            await self._change(conn, user, role, by=by, client=ClientInfo())
        return had

    async def _change(
        self,
        conn: AsyncConnection,
        user: UserRow,
        role: PlatformRole,
        *,
        by: str,
        client: ClientInfo,
    ) -> None:
        had = PlatformRole(user.platform_role)
        if had == role:
            return
        await AccountRepository(conn).update_user(user.id, now=self.clock.now(), platform_role=role)
        kind = "role.revoked" if role == PlatformRole.LEARNER else "role.granted"
        await self.audit.record(conn, user.id, kind, client, role=role, previous=had, by=by)
