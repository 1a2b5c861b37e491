"""Single-use links mailed to an address (confirm it, reset a password, confirm a new
address), and the notices that tell an owner something changed.

A link's token exists only in the mail: the database keeps its SHA-256, and using it is one
conditional UPDATE, so two uses cannot both succeed. A newer link of the same purpose kills
the older ones. Mail goes through the outbox, in the caller's transaction: a change that
rolls back sends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.repository import AccountRepository, EmailTokenRow
from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox
from waymark.kernel.clock import Clock
from waymark.kernel.identity import hash_token, new_token
from waymark.kernel.paths import with_next

LinkPurpose = Literal["verify-email", "reset-password", "change-email"]
CONFIRMATIONS: tuple[LinkPurpose, ...] = ("verify-email", "change-email")
"""The purposes of links that confirm an address (`POST /auth/verify-email`)."""
PRODUCT = "Waymark"

# What each purpose mails, and the page its link opens.
_TEMPLATE: dict[LinkPurpose, str] = {
    "verify-email": "verify-email",
    "change-email": "verify-email",
    "reset-password": "reset-password",
}
_PAGE: dict[LinkPurpose, str] = {
    "verify-email": "/verify-email",
    "change-email": "/verify-email",
    "reset-password": "/reset-password",
}


class MailedLinks:
    def __init__(
        self,
        *,
        outbox: Outbox,
        public_url: str,
        clock: Clock,
        verify_ttl: timedelta = timedelta(hours=24),
        reset_ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self.outbox = outbox
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self._ttl: dict[LinkPurpose, timedelta] = {
            "verify-email": verify_ttl,
            "change-email": verify_ttl,
            "reset-password": reset_ttl,
        }
        # Notices of a change carry a way back in case it was not the owner.
        self._recovery = {"product": PRODUCT, "link": f"{self.public_url}/forgot-password"}

    async def send(
        self,
        conn: AsyncConnection,
        *,
        account_id: uuid.UUID,
        to: str,
        purpose: LinkPurpose,
        new_email: str | None = None,
        next_path: str = "",
    ) -> None:
        """Mail a fresh link of `purpose` to `to`; the account's earlier ones stop working.
        With `next_path` (a path on this site, else ignored) the page the link opens leads
        there once its holder has signed in."""
        repo = AccountRepository(conn)
        now = self.clock.now()
        await repo.revoke_email_tokens(account_id, purpose, now)
        token = new_token()
        await repo.insert_email_token(
            user_id=account_id,
            purpose=purpose,
            token_hash=hash_token(token),
            now=now,
            expires_at=now + self._ttl[purpose],
            new_email=new_email,
        )
        await enqueue_mail(
            self.outbox,
            conn,
            to=to,
            template=_TEMPLATE[purpose],
            context={
                "product": PRODUCT,
                "link": with_next(f"{self.public_url}{_PAGE[purpose]}?token={token}", next_path),
                "token": token,
            },
        )

    async def live(
        self, conn: AsyncConnection, token: str, purposes: Collection[LinkPurpose]
    ) -> EmailTokenRow | None:
        """The link if it is live and of one of `purposes`, without using it up."""
        return await AccountRepository(conn).live_email_token(
            token_hash=hash_token(token), purposes=purposes, now=self.clock.now()
        )

    async def use(
        self, conn: AsyncConnection, token: str, purpose: LinkPurpose
    ) -> EmailTokenRow | None:
        """Use a live link of `purpose` up and return it; None if it is not one."""
        return await AccountRepository(conn).consume_email_token(
            token_hash=hash_token(token), purpose=purpose, now=self.clock.now()
        )

    async def revoke(
        self, conn: AsyncConnection, account_id: uuid.UUID, purpose: LinkPurpose
    ) -> None:
        await AccountRepository(conn).revoke_email_tokens(account_id, purpose, self.clock.now())

    async def notify(
        self,
        conn: AsyncConnection,
        *,
        to: str,
        template: str,
        dedupe_key: str | None = None,
        **context: Any,
    ) -> None:
        """Tell the owner at `to` that something changed, with a way back (a reset)."""
        await enqueue_mail(
            self.outbox,
            conn,
            to=to,
            template=template,
            context={**self._recovery, **context},
            dedupe_key=dedupe_key,
        )

    def page(self, path: str) -> str:
        """A page of Waymark, as mails link to it."""
        return f"{self.public_url}{path}"
