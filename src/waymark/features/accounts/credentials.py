"""Passwords as a way in: checking one at sign-in, asking for it again before a sensitive
change, changing it, and resetting a forgotten one through a mailed link.

No pooled connection waits on argon2: each use case reads, hashes or verifies holding no
connection, then writes in one short transaction (docs/architecture.md). Failed sign-ins do
the same work for every address (docs/security.md): one verification (a dummy one for an
unknown address) and one `accounts.login-failed` message, audited after the request.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidEmailToken,
    ReauthenticationRequired,
    WrongPassword,
)
from waymark.features.accounts.limits import (
    FORGOT_ACCOUNT_IP,
    FORGOT_IP,
    REAUTH_ACCOUNT,
    RESET_IP,
    account_key,
)
from waymark.features.accounts.links import LinkPurpose
from waymark.features.accounts.messages import (
    announce_signed_out_everywhere,
    queue_account_mail,
    queue_login_failure,
)
from waymark.features.accounts.passwords import NO_PASSWORD
from waymark.features.accounts.repository import AccountRepository, UserRow
from waymark.features.accounts.use_cases import AccountUseCases
from waymark.kernel.errors import Conflict, NotAuthenticated
from waymark.kernel.identity import Account, ClientInfo
from waymark.kernel.ports import RecentReauthentication, never_reauthenticated

RESETS: tuple[LinkPurpose, ...] = ("reset-password",)


@dataclass(kw_only=True, eq=False)
class Credentials(AccountUseCases):
    reauthenticated: RecentReauthentication = never_reauthenticated
    """Whether a session re-authenticated through a linked provider a moment ago (auth's,
    set by the composition root): stands in for the password asked again."""

    async def has_password(self, account_id: uuid.UUID) -> bool:
        """Whether the account has a password of its own (one made through another site
        has none until a reset gives it one): a way in for the "last way in" rules."""
        async with self.db.read() as conn:
            user = await AccountRepository(conn).user_by_id(account_id)
        return user is not None and user.password_hash != NO_PASSWORD

    async def sign_in(self, *, email: str, password: str, client: ClientInfo) -> Account:
        """The account at canonical `email` if `password` is its own: InvalidCredentials
        alike for an unknown address, a wrong password and a disabled account (the failure
        is audited on a known account after the request), EmailNotVerified for an account
        nobody confirmed. A hash made with weaker parameters than today's is replaced."""
        async with self.db.read() as conn:
            user = await AccountRepository(conn).user_by_email(email)
        if user is None:
            await self.passwords.match_nothing(password)
            await self._sign_in_failed(email, client)
        if not await self.passwords.matches(user.password_hash, password) or user.disabled_at:
            await self._sign_in_failed(email, client)
        if user.email_verified_at is None:
            raise EmailNotVerified()
        rehashed = await self.passwords.rehash_if_weaker(user.password_hash, password)
        if rehashed is not None:
            async with self.db.transaction() as conn:
                # Compare-and-set: a sign-in must never undo a password change.
                await AccountRepository(conn).replace_password_hash(
                    user.id, old=user.password_hash, new=rehashed, now=self.clock.now()
                )
        return user.view()

    async def reauthenticate(
        self,
        account_id: uuid.UUID,
        password: str,
        *,
        action: str,
        client: ClientInfo,
        session_key: str | None = None,
    ) -> UserRow:
        """The current password again before a sensitive change: throttled per account like
        a sign-in, a failure audited (a stolen session guessing), a success forgiven. With
        no password, a re-authentication through a linked provider on this session
        (`session_key`) in the last minutes stands in for it (`reauthenticated`), else
        `ReauthenticationRequired`. The row it checked, for the change that follows (inside
        accounts only)."""
        key = str(account_id)
        await self.throttle.check((REAUTH_ACCOUNT, key))
        async with self.db.read() as conn:
            user = await AccountRepository(conn).user_by_id(account_id)
        if user is None:
            raise NotAuthenticated("account gone")
        if not password:
            if session_key is None or not await self.reauthenticated(account_id, session_key):
                raise ReauthenticationRequired()
            return user
        if not await self.passwords.matches(user.password_hash, password):
            await self.audit.record_alone(account_id, "reauth.failed", client, action=action)
            raise WrongPassword()
        await self.throttle.forgive(REAUTH_ACCOUNT, key)
        return user

    async def change_password(
        self,
        account_id: uuid.UUID,
        *,
        current: str,
        new: str,
        client: ClientInfo,
        before_storing: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Check `current`, then store `new`; the owner is told by mail.

        `before_storing` runs once the new password is known to be acceptable and before it
        is stored (the auth feature ends other sessions there: if that fails, nothing has
        changed yet). Two changes at once: the later one is refused (Conflict), not lost."""
        user = await self.reauthenticate(
            account_id, current, action="password.change", client=client
        )
        password_hash = await self.passwords.hash_new(new, email=user.email)
        if before_storing is not None:
            await before_storing()
        async with self.db.transaction() as conn:
            changed = await AccountRepository(conn).replace_password_hash(
                user.id, old=user.password_hash, new=password_hash, now=self.clock.now()
            )
            if not changed:
                raise Conflict("the password changed meanwhile; try again")
            await self.links.notify(conn, to=user.email, template="password-changed")
            await self.audit.record(conn, user.id, "password.changed", client)

    async def forgot(self, *, email: str, client: ClientInfo) -> None:
        """Mail a reset link to canonical `email` if it has an account; the same work for
        any address (the link is minted after the request, `mail_reset_link`)."""
        await self.throttle.check(
            (FORGOT_ACCOUNT_IP, account_key(email, client.ip)), (FORGOT_IP, client.ip)
        )
        async with self.db.transaction() as conn:
            await queue_account_mail(self.outbox, conn, email=email, purpose="reset-password")

    async def reset(self, *, token: str, new_password: str, client: ClientInfo) -> uuid.UUID:
        """Set a new password with a reset link; returns the account. A reset assumes someone
        else may hold the account: it moves the account's not-before in its transaction, so
        every session and token issued before is refused from the commit on, whatever
        happens to the stores after (`accounts.signed-out-everywhere` has them tidied away,
        with retries). The not-before has whole seconds, like a JWT's `iat`: the caller ends
        the sessions at once too, for one begun in the very second of the reset."""
        await self.throttle.check((RESET_IP, client.ip))
        async with self.db.read() as conn:
            link = await self.links.live(conn, token, RESETS)
            user = await AccountRepository(conn).user_by_id(link.user_id) if link else None
        if user is None or user.disabled_at is not None:
            raise InvalidEmailToken()
        password_hash = await self.passwords.hash_new(new_password, email=user.email)
        async with self.db.transaction() as conn:
            if await self.links.use(conn, token, "reset-password") is None:
                raise InvalidEmailToken()  # used meanwhile
            now = self.clock.now()
            # The link came through the mailbox, so it also confirms an unconfirmed address
            # (and kills its confirmation links, whose holder would otherwise set a password).
            await AccountRepository(conn).update_user(
                user.id,
                now=now,
                password_hash=password_hash,
                tokens_valid_after=now,
                email_verified_at=user.email_verified_at or now,
            )
            await self.links.revoke(conn, user.id, "verify-email")
            await self.links.notify(conn, to=user.email, template="password-changed")
            await self.audit.record(conn, user.id, "password.reset", client)
            await announce_signed_out_everywhere(
                self.outbox, conn, user.id, "password-reset", not_before=now
            )
        return user.id

    async def mail_reset_link(self, conn: AsyncConnection, email: str) -> None:
        """After a forgot-password request: a reset link to an active account (earlier ones
        die), nothing for other addresses."""
        user = await AccountRepository(conn).user_by_email(email)
        if user is None or user.disabled_at is not None:
            return
        await self.links.send(conn, account_id=user.id, to=user.email, purpose="reset-password")

    async def _sign_in_failed(self, email: str, client: ClientInfo) -> NoReturn:
        async with self.db.transaction() as conn:
            await queue_login_failure(self.outbox, conn, email=email, client=client)
        raise InvalidCredentials()
