"""Signing up and confirming an address.

Sign-up does the same work whatever the address (docs/security.md, "Same work for every
address"): it hashes the password, upserts the account (a confirmed one is never touched),
reads the address's owner back, writes one `accounts.mail` message and one audit row. What
to mail is worked out after the request (`jobs.py` calls `after_sign_up`): a confirmation
link while the address is unconfirmed, else a notice to its owner.

Confirming a new account sets its password from what the link's holder types: confirmation
proves control of the mailbox, and whoever filled in the sign-up form need not be its owner
(account pre-hijacking, docs/security.md).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.errors import InvalidEmailToken
from waymark.features.accounts.limits import (
    REGISTER_IP,
    RESEND_ACCOUNT_IP,
    RESEND_IP,
    VERIFY_IP,
    account_key,
)
from waymark.features.accounts.links import CONFIRMATIONS, LinkPurpose
from waymark.features.accounts.messages import queue_account_mail
from waymark.features.accounts.passwords import NO_PASSWORD
from waymark.features.accounts.repository import AccountRepository
from waymark.features.accounts.use_cases import AccountUseCases
from waymark.kernel.errors import FieldError, ValidationFailed
from waymark.kernel.identity import Account, ClientInfo, hash_token

CHOSEN_ON_CONFIRMATION = FieldError(
    "password", "required to confirm a new account: the password typed here becomes the account's"
)


class Registration(AccountUseCases):
    # -- use cases ---------------------------------------------------------------------------

    async def register(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        client: ClientInfo,
        next_path: str = "",
    ) -> None:
        """Sign up with a canonical `email`; the same answer and work for any address. The
        confirmation link leads on to `next_path` (a path on this site) after signing in."""
        await self.throttle.check((REGISTER_IP, client.ip))
        password_hash = await self.passwords.hash_new(password, email=email)
        async with self.db.transaction() as conn:
            await self.sign_up(
                conn,
                email=email,
                password_hash=password_hash,
                display_name=display_name,
                client=client,
                next_path=next_path,
            )

    async def sign_up(
        self,
        conn: AsyncConnection,
        *,
        email: str,
        password_hash: str,
        display_name: str,
        client: ClientInfo,
        next_path: str = "",
    ) -> None:
        """The statements of a sign-up, the same for every address (a test compares them)."""
        account_id, created = await self._claim(
            conn, email, password_hash, display_name, replace_unconfirmed=True
        )
        await queue_account_mail(
            self.outbox, conn, email=email, purpose="sign-up", next_path=next_path
        )
        # On the owner's log either way: a second sign-up may be someone probing.
        kind = "account.registered" if created else "account.registration-attempted"
        await self.audit.record(conn, account_id, kind, client)

    async def confirm(self, *, token: str, password: str | None, client: ClientInfo) -> Account:
        """Use a confirmation link: a new account's (`password` becomes its password), or
        the new address of an email change (`password` is not needed)."""
        await self.throttle.check((VERIFY_IP, client.ip))
        async with self.db.read() as conn:
            link = await self.links.live(conn, token, CONFIRMATIONS)
            user = await AccountRepository(conn).user_by_id(link.user_id) if link else None
        if link is None or user is None:
            raise InvalidEmailToken()
        password_hash = None
        if link.purpose == "verify-email":
            if password is None:
                raise ValidationFailed([CHOSEN_ON_CONFIRMATION])
            password_hash = await self.passwords.hash_new(password, email=user.email)
        async with self.db.transaction() as conn:
            account_id = await self._use_confirmation(conn, token, password_hash)
            await self.audit.record(conn, account_id, "email.verified", client)
            confirmed = await AccountRepository(conn).user_by_id(account_id)
        assert confirmed is not None  # just updated in this transaction
        return confirmed.view()

    async def pending_confirmation(self, token: str) -> LinkPurpose | None:
        """What a confirmation link would confirm, without using it up: `verify-email` (a
        new account, whose password its holder chooses) or `change-email`; None if the link
        is dead. For the page a mailed link opens: GET never changes anything (mail scanners
        follow links), the person confirms with a form."""
        async with self.db.read() as conn:
            link = await self.links.live(conn, token, CONFIRMATIONS)
        if link is None:
            return None
        return "verify-email" if link.purpose == "verify-email" else "change-email"

    async def resend(self, *, email: str, client: ClientInfo, next_path: str = "") -> None:
        """Mail a new confirmation link (the old one dies); the same work for any address.
        The link leads on to `next_path`, as a sign-up's does."""
        await self.throttle.check(
            (RESEND_ACCOUNT_IP, account_key(email, client.ip)), (RESEND_IP, client.ip)
        )
        async with self.db.transaction() as conn:
            await queue_account_mail(
                self.outbox, conn, email=email, purpose="verify-email", next_path=next_path
            )

    async def create(
        self, *, email: str, password: str, display_name: str = "", verified: bool = True
    ) -> uuid.UUID | None:
        """An account made by an operator (`waymark users create`); None when the address
        has one already (never replaced, confirmed or not)."""
        password_hash = await self.passwords.hash_new(password, email=email)
        async with self.db.transaction() as conn:
            account_id, created = await self._claim(
                conn, email, password_hash, display_name, verified=verified
            )
        return account_id if created else None

    async def create_external(
        self, *, account_id: uuid.UUID, email: str, display_name: str
    ) -> uuid.UUID | None:
        """An account signed up through another site that vouched for `email` (verified
        there): confirmed, with no password (`NO_PASSWORD`: none matches until a reset sets
        one). None when the address has an account already (never replaced, confirmed or
        not: linking to it takes the owner's confirmation)."""
        name = "".join(c for c in display_name if c.isprintable())[:100].strip()
        async with self.db.transaction() as conn:
            owner, created = await self._claim(
                conn, email, NO_PASSWORD, name, verified=True, candidate=account_id
            )
        return owner if created else None

    # -- after the request (outbox handlers) -------------------------------------------------

    async def after_sign_up(self, conn: AsyncConnection, email: str, next_path: str = "") -> None:
        """A confirmation link while the address is unconfirmed (a new account, or one
        nobody has confirmed yet), leading on to `next_path` after signing in; else a
        notice to the owner (never with a path a stranger chose: whoever signed up need
        not be the owner)."""
        user = await AccountRepository(conn).user_by_email(email)
        if user is None or user.disabled_at is not None:
            return
        if user.email_verified_at is None:
            await self._mail_link(conn, user.id, user.email, next_path)
        else:
            await self.notify_account_exists(conn, email)

    async def mail_confirmation(
        self, conn: AsyncConnection, email: str, next_path: str = ""
    ) -> None:
        """A fresh confirmation link for an unconfirmed account; nothing for other addresses."""
        user = await AccountRepository(conn).user_by_email(email)
        if user is None or user.disabled_at is not None or user.email_verified_at is not None:
            return
        await self._mail_link(conn, user.id, user.email, next_path)

    async def notify_account_exists(self, conn: AsyncConnection, email: str) -> None:
        """Tell a confirmed account's owner someone tried to sign up with their address, at
        most once a day."""
        user = await AccountRepository(conn).user_by_email(email)
        if user is None or user.disabled_at is not None or user.email_verified_at is None:
            return
        day = self.clock.now().date().isoformat()
        await self.links.notify(
            conn,
            to=user.email,
            template="account-exists",
            dedupe_key=f"account-exists:{hash_token(user.email)[:32]}:{day}",
            login=self.links.page("/login"),
        )

    # -- steps -------------------------------------------------------------------------------

    async def _mail_link(
        self, conn: AsyncConnection, account_id: uuid.UUID, email: str, next_path: str
    ) -> None:
        await self.links.send(
            conn, account_id=account_id, to=email, purpose="verify-email", next_path=next_path
        )

    async def _claim(
        self,
        conn: AsyncConnection,
        email: str,
        password_hash: str,
        display_name: str,
        *,
        verified: bool = False,
        replace_unconfirmed: bool = False,
        candidate: uuid.UUID | None = None,
    ) -> tuple[uuid.UUID, bool]:
        candidate = candidate or uuid.uuid4()
        owner = await AccountRepository(conn).claim_email(
            user_id=candidate,
            email=email,
            password_hash=password_hash,
            display_name=display_name,
            now=self.clock.now(),
            verified=verified,
            replace_unconfirmed=replace_unconfirmed,
        )
        return owner, owner == candidate

    async def _use_confirmation(
        self, conn: AsyncConnection, token: str, password_hash: str | None
    ) -> uuid.UUID:
        repo = AccountRepository(conn)
        now = self.clock.now()
        for purpose in CONFIRMATIONS:
            row = await self.links.use(conn, token, purpose)
            if row is None:
                continue
            user = await repo.user_by_id(row.user_id)
            if user is None:
                break
            if purpose == "verify-email":
                if user.email_verified_at is not None or password_hash is None:
                    break
                # Every session issued before is refused, and every other confirmation
                # link of the account dies.
                await repo.update_user(
                    user.id,
                    now=now,
                    email_verified_at=now,
                    password_hash=password_hash,
                    tokens_valid_after=now,
                )
                await self.links.revoke(conn, user.id, "verify-email")
                return user.id
            assert row.new_email is not None
            # Whoever confirmed just proved they hold the mailbox: an unconfirmed sign-up
            # squatting on the address gives way; a confirmed account does not.
            await repo.delete_unverified(row.new_email)
            if await repo.user_by_email(row.new_email) is not None:
                break  # taken since the change was asked for
            await repo.update_user(user.id, now=now, email=row.new_email, email_verified_at=now)
            await self.links.notify(
                conn, to=user.email, template="email-changed", new_email=row.new_email
            )
            return user.id
        raise InvalidEmailToken()
