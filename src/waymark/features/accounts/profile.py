"""An account's own data: reading it (the authenticated caller's, on every request), the
profile, moving to another address, deletion, and signing out everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from waymark.features.accounts.credentials import Credentials
from waymark.features.accounts.messages import (
    announce_deleted,
    announce_signed_out_everywhere,
)
from waymark.features.accounts.repository import AccountRepository, hot_account, hot_accounts
from waymark.features.accounts.use_cases import AccountUseCases
from waymark.kernel.errors import NotFound
from waymark.kernel.identity import Account, ClientInfo


@dataclass(kw_only=True, eq=False)
class Profiles(AccountUseCases):
    credentials: Credentials
    """For the password asked again before a change of address or a deletion."""

    async def active(self, account_id: uuid.UUID) -> Account | None:
        """The account if it exists and is not disabled: one hot read, on every
        authenticated request, on a connection of its own."""
        account = await hot_account(self.db, account_id)
        return account if account is not None and not account.disabled else None

    async def get(self, account_id: uuid.UUID) -> Account:
        async with self.db.read() as conn:
            account = await AccountRepository(conn).account(account_id)
        if account is None:
            raise NotFound("no such account")
        return account

    async def many(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Account]:
        """Several accounts by id, in one hot read, for another feature that shows people
        (a team's members: display name, address, reminder opt-out). Ids with no account
        are left out; disabled accounts are included (`Account.disabled` says so)."""
        found = await hot_accounts(self.db, account_ids)
        return {account.id: account for account in found}

    async def digest_recipients(self, *, after: uuid.UUID | None, limit: int) -> list[Account]:
        """A page of the accounts that take the weekly progress digest (confirmed, enabled,
        not opted out), by id after `after`: for the progress feature's digest job."""
        async with self.db.read() as conn:
            return await AccountRepository(conn).digest_recipients(after=after, limit=limit)

    async def enabled_ids(self, *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """A page of the ids of accounts not disabled, after `after`: for a feature's job
        that goes through every learner's data (the notes' link checker)."""
        async with self.db.read() as conn:
            return await AccountRepository(conn).enabled_ids(after=after, limit=limit)

    async def id_of(self, email: str) -> uuid.UUID | None:
        """The id of the account at canonical `email` (an operator's lookup)."""
        async with self.db.read() as conn:
            user = await AccountRepository(conn).user_by_email(email)
        return None if user is None else user.id

    async def update(self, account_id: uuid.UUID, changes: dict[str, Any]) -> Account:
        """Change profile fields (already validated by the request schema)."""
        async with self.db.transaction() as conn:
            repo = AccountRepository(conn)
            if changes:
                await repo.update_user(account_id, now=self.clock.now(), **changes)
            account = await repo.account(account_id)
        if account is None:
            raise NotFound("no such account")
        return account

    async def request_email_change(
        self,
        account_id: uuid.UUID,
        *,
        password: str,
        new_email: str,
        client: ClientInfo,
        session_key: str | None = None,
    ) -> None:
        """Mail a confirmation link to canonical `new_email`; the change happens when it is
        used (`Registration.confirm`), and the old address is told then.

        A new address that a confirmed account holds gets no mail and no error, so this
        cannot probe which addresses are registered; one that an unconfirmed sign-up holds
        is mailed (confirming it displaces the sign-up)."""
        await self.credentials.reauthenticate(
            account_id, password, action="email.change", client=client, session_key=session_key
        )
        async with self.db.transaction() as conn:
            holder = await AccountRepository(conn).user_by_email(new_email)
            if holder is None or holder.email_verified_at is None:
                await self.links.send(
                    conn,
                    account_id=account_id,
                    to=new_email,
                    purpose="change-email",
                    new_email=new_email,
                )
            await self.audit.record(conn, account_id, "email.change-requested", client)

    async def delete(
        self,
        account_id: uuid.UUID,
        *,
        password: str,
        client: ClientInfo,
        session_key: str | None = None,
    ) -> None:
        """Delete the account and, by cascade, everything that hangs off it, after asking
        for the password again (or, with none, a recent re-authentication of this session
        through a linked provider). With the row gone nothing lets its sessions in;
        `accounts.signed-out-everywhere` has them tidied away."""
        await self.credentials.reauthenticate(
            account_id, password, action="account.delete", client=client, session_key=session_key
        )
        async with self.db.transaction() as conn:
            await AccountRepository(conn).delete_user(account_id)
            await announce_signed_out_everywhere(self.outbox, conn, account_id, "deleted")
            await announce_deleted(self.outbox, conn, account_id)

    async def sign_out_everywhere(
        self, account_id: uuid.UUID, client: ClientInfo, *, ended: int
    ) -> None:
        """Refuse every session and access token issued before now (`ended` of them were
        ended in the stores already), and audit it."""
        async with self.db.transaction() as conn:
            now = self.clock.now()
            await AccountRepository(conn).update_user(account_id, now=now, tokens_valid_after=now)
            await self.audit.record(conn, account_id, "logout.all", client, ended=ended)

    async def disable(self, email: str) -> uuid.UUID | None:
        """Disable the account at canonical `email` (an operator's action): its sign-ins,
        sessions and tokens stop at once. None if there is no such account."""
        async with self.db.transaction() as conn:
            repo = AccountRepository(conn)
            user = await repo.user_by_email(email)
            if user is None:
                return None
            now = self.clock.now()
            await repo.update_user(user.id, now=now, disabled_at=now, tokens_valid_after=now)
            await announce_signed_out_everywhere(self.outbox, conn, user.id, "disabled")
        return user.id
