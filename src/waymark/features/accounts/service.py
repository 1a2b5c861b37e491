"""Account use cases: registration, email verification, password flows, profile, audit.

Every function takes the caller's connection and never commits. Mail goes through the outbox
in the same transaction, so a rolled-back change sends nothing. Sessions and tokens are the
auth feature's; callers there end them when a use case here says so.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidEmailToken,
    WrongPassword,
)
from waymark.features.accounts.jobs import (
    ACCOUNT_MAIL,
    LOGIN_FAILED,
    AccountMail,
    LoginFailure,
    MailPurpose,
)
from waymark.features.accounts.repository import AccountRepository, UserRow
from waymark.features.accounts.schemas import AuditEvent, Me
from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox
from waymark.infra.security.passwords import PasswordHasher, PasswordPolicy
from waymark.kernel.clock import utcnow
from waymark.kernel.email_address import normalize_email
from waymark.kernel.errors import Conflict, NotFound, ValidationFailed

EmailPurpose = Literal["verify-email", "reset-password", "change-email"]
CONFIRMATIONS: tuple[EmailPurpose, ...] = ("verify-email", "change-email")
"""The purposes of links that confirm an address (`POST /auth/verify-email`)."""
PRODUCT = "Waymark"


class ClientInfo(msgspec.Struct, frozen=True):
    """Who is on the other end, for the audit log and the session list."""

    ip: str = ""
    user_agent: str = ""


class Confirmation(msgspec.Struct, frozen=True, kw_only=True):
    """What a confirmation link is for, as `AccountService.confirmation` reads it."""

    new_account: bool
    """True: it confirms a new account, and sets its password; False: an email change."""
    email: str
    """The account's address now (the password policy refuses the address as password)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 bits from the CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


class AccountService:
    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        outbox: Outbox,
        public_url: str,
        verify_ttl: timedelta = timedelta(hours=24),
        reset_ttl: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.hasher = hasher
        self.policy = policy
        self.outbox = outbox
        self.public_url = public_url.rstrip("/")
        self.verify_ttl = verify_ttl
        self.reset_ttl = reset_ttl
        self.clock = clock
        # Notices of a change carry a way back in case it was not the owner.
        self._recovery = {"product": PRODUCT, "link": f"{self.public_url}/forgot-password"}

    # -- registration and verification -------------------------------------------------------

    async def hash_new_password(self, password: str, *, email: str) -> str:
        """Check the policy and hash; done before any transaction so no pooled connection
        waits on argon2."""
        self._check_policy(password, normalize_email(email))
        return await self.hasher.hash(password)

    async def create_account(
        self,
        conn: AsyncConnection,
        *,
        email: str,
        password_hash: str,
        display_name: str = "",
        verified: bool = False,
    ) -> uuid.UUID | None:
        """A new account, or None when the address is taken."""
        user_id, created = await self._claim(
            conn, email, password_hash, display_name, verified=verified
        )
        return user_id if created else None

    async def register(
        self, conn: AsyncConnection, *, email: str, password_hash: str, display_name: str
    ) -> tuple[uuid.UUID, bool]:
        """Create an unverified account unless the address has a confirmed one; (the
        account's id, whether it is new).

        The same statements run either way, so neither the answer nor its timing says
        whether the address was taken: an upsert that changes nothing on a confirmed
        address (and replaces an unconfirmed sign-up), a SELECT of the address's account,
        and one `accounts.mail` message (`after_sign_up` works out later what it mails).
        The caller hashed the password on both paths.
        """
        user_id, created = await self._claim(conn, email, password_hash, display_name)
        await self.queue_mail(conn, email=email, purpose="sign-up")
        return user_id, created

    async def _claim(
        self,
        conn: AsyncConnection,
        email: str,
        password_hash: str,
        display_name: str,
        *,
        verified: bool = False,
    ) -> tuple[uuid.UUID, bool]:
        candidate = uuid.uuid4()
        owner = await AccountRepository(conn).claim_email(
            user_id=candidate,
            email=normalize_email(email),
            password_hash=password_hash,
            display_name=display_name,
            now=self.clock(),
            verified=verified,
        )
        return owner, owner == candidate

    async def queue_mail(self, conn: AsyncConnection, *, email: str, purpose: MailPurpose) -> None:
        """One `accounts.mail` message, whatever the address: `AccountMailHandler` works out
        after the request what to send, so every address costs the request the same."""
        await self.outbox.enqueue(
            conn, ACCOUNT_MAIL, AccountMail(email=normalize_email(email), purpose=purpose)
        )

    async def after_sign_up(self, conn: AsyncConnection, *, email: str) -> None:
        """What a sign-up mails, decided after the request: a confirmation link while the
        address is unconfirmed (a new account, or one nobody has confirmed yet), else a
        notice to the owner that someone tried to register their address."""
        user = await AccountRepository(conn).user_by_email(normalize_email(email))
        if user is None or user.disabled_at is not None:
            return
        if user.email_verified_at is None:
            await self.mail_link(conn, email=user.email, purpose="verify-email")
        else:
            await self.notify_account_exists(conn, email=user.email)

    async def notify_account_exists(self, conn: AsyncConnection, *, email: str) -> None:
        """Tell an owner someone tried to register their address (at most once a day)."""
        user = await AccountRepository(conn).user_by_email(normalize_email(email))
        if user is None or user.disabled_at is not None or user.email_verified_at is None:
            return
        day = self.clock().date().isoformat()
        await enqueue_mail(
            self.outbox,
            conn,
            to=user.email,
            template="account-exists",
            context={**self._recovery, "login": f"{self.public_url}/login"},
            dedupe_key=f"account-exists:{hash_token(user.email)[:32]}:{day}",
        )

    async def mail_link(
        self,
        conn: AsyncConnection,
        *,
        email: str,
        purpose: Literal["verify-email", "reset-password"],
    ) -> None:
        """A fresh confirmation link (for an unconfirmed account) or reset link (for any
        active one); earlier links of that purpose stop working. Nothing for other addresses.
        Run by `AccountMailHandler` after the request (`queue_mail`), never in it."""
        repo = AccountRepository(conn)
        user = await repo.user_by_email(normalize_email(email))
        if user is None or user.disabled_at is not None:
            return
        if purpose == "verify-email" and user.email_verified_at is not None:
            return
        await repo.revoke_email_tokens(user.id, purpose, self.clock())
        await self._send_token_mail(
            conn,
            user_id=user.id,
            to=user.email,
            purpose=purpose,
            template=purpose,
            path=f"/{purpose}",
            ttl=self.verify_ttl if purpose == "verify-email" else self.reset_ttl,
        )

    async def confirmation(self, conn: AsyncConnection, token: str) -> Confirmation:
        """What a live confirmation link confirms (a new account's address, or the new
        address of an email change), without using it up: confirming a new account sets its
        password, which is checked and hashed next, outside any transaction."""
        repo = AccountRepository(conn)
        row = await repo.live_email_token(
            token_hash=hash_token(token), purposes=CONFIRMATIONS, now=self.clock()
        )
        user = await repo.user_by_id(row.user_id) if row else None
        if row is None or user is None:
            raise InvalidEmailToken()
        return Confirmation(new_account=row.purpose == "verify-email", email=user.email)

    async def verify_email(
        self, conn: AsyncConnection, token: str, *, password_hash: str | None
    ) -> uuid.UUID:
        """Confirm an address: a new account's, or the new one of an email change.

        A new account's confirmation also sets its password to `password_hash`, hashed from
        what the person holding the link typed (`hash_new_password`). Confirming proves
        control of the mailbox; whatever password the sign-up stored was chosen by whoever
        filled in the form, who need not be the mailbox's owner (account pre-hijacking,
        docs/security.md). Every session is refused from here on and every other
        confirmation link of the account dies.
        """
        repo = AccountRepository(conn)
        now = self.clock()
        for purpose in CONFIRMATIONS:
            row = await repo.consume_email_token(
                token_hash=hash_token(token), purpose=purpose, now=now
            )
            if row is None:
                continue
            user = await repo.user_by_id(row.user_id)
            if user is None:
                break
            if purpose == "verify-email":
                if user.email_verified_at is not None or password_hash is None:
                    break
                await repo.update_user(
                    user.id,
                    now=now,
                    email_verified_at=now,
                    password_hash=password_hash,
                    tokens_valid_after=now,
                )
                await repo.revoke_email_tokens(user.id, "verify-email", now)
                return user.id
            assert row.new_email is not None
            # Whoever confirmed just proved they hold the mailbox: an unconfirmed sign-up
            # squatting on the address gives way; a confirmed account does not.
            await repo.delete_unverified(row.new_email)
            if await repo.user_by_email(row.new_email) is not None:
                break  # taken since the change was asked for
            await repo.update_user(user.id, now=now, email=row.new_email, email_verified_at=now)
            await enqueue_mail(
                self.outbox,
                conn,
                to=user.email,
                template="email-changed",
                context={**self._recovery, "new_email": row.new_email},
            )
            return user.id
        raise InvalidEmailToken()

    # -- login -------------------------------------------------------------------------------

    async def find_for_login(self, conn: AsyncConnection, email: str) -> UserRow | None:
        return await AccountRepository(conn).user_by_email(normalize_email(email))

    async def check_login(self, user: UserRow | None, password: str) -> UserRow:
        """The user if `password` is theirs, else InvalidCredentials; no database work.

        An unknown address runs one full argon2 verification against a dummy hash, so the
        answer takes as long as for a real account.
        """
        if user is None:
            await self.hasher.verify_dummy(password)
            raise InvalidCredentials()
        if not await self.hasher.verify(user.password_hash, password):
            raise InvalidCredentials()
        if user.disabled_at is not None:
            raise InvalidCredentials()
        if user.email_verified_at is None:
            raise EmailNotVerified()
        return user

    async def rehash_if_weaker(self, user: UserRow, password: str) -> str | None:
        """A new hash of `password` if the stored one was made with weaker parameters than
        today's (rare: after the parameters rise), computed before any transaction."""
        if self.hasher.needs_rehash(user.password_hash):
            return await self.hasher.hash(password)
        return None

    async def after_login(self, conn: AsyncConnection, user: UserRow, rehashed: str | None) -> None:
        """Store a hash from `rehash_if_weaker`, unless the password changed meanwhile (a
        compare-and-set: a login must never undo a password change)."""
        if rehashed is not None:
            await AccountRepository(conn).replace_password_hash(
                user.id, old=user.password_hash, new=rehashed, now=self.clock()
            )

    async def queue_login_failure(
        self, conn: AsyncConnection, *, email: str, client: ClientInfo
    ) -> None:
        """One `accounts.login-failed` message whether or not the address has an account;
        `record_login_failure` audits it afterwards for a known one."""
        await self.outbox.enqueue(
            conn,
            LOGIN_FAILED,
            LoginFailure(email=normalize_email(email), ip=client.ip, user_agent=client.user_agent),
        )

    async def record_login_failure(self, conn: AsyncConnection, failure: LoginFailure) -> None:
        user = await AccountRepository(conn).user_by_email(failure.email)
        if user is not None:
            client = ClientInfo(ip=failure.ip, user_agent=failure.user_agent)
            await self.record(conn, user.id, "login.failed", client)

    async def active_user(self, conn: AsyncConnection, user_id: uuid.UUID) -> UserRow | None:
        """The user if they exist and are not disabled."""
        user = await AccountRepository(conn).user_by_id(user_id)
        return user if user is not None and user.disabled_at is None else None

    # -- passwords ---------------------------------------------------------------------------

    async def reset_target(self, conn: AsyncConnection, token: str) -> UserRow:
        """The account a live reset token belongs to, without using the token up: the new
        password is checked and hashed next, outside any transaction."""
        row = await AccountRepository(conn).live_email_token(
            token_hash=hash_token(token), purposes=("reset-password",), now=self.clock()
        )
        user = await self.active_user(conn, row.user_id) if row else None
        if user is None:
            raise InvalidEmailToken()
        return user

    async def reset_password(
        self, conn: AsyncConnection, *, token: str, password_hash: str
    ) -> uuid.UUID:
        """Use the reset token up and set the password hashed from `hash_new_password`; the
        caller ends every session of the user. A token used meanwhile fails here."""
        repo = AccountRepository(conn)
        row = await repo.consume_email_token(
            token_hash=hash_token(token), purpose="reset-password", now=self.clock()
        )
        user = await repo.user_by_id(row.user_id) if row else None
        if user is None:
            raise InvalidEmailToken()
        await self._set_password(conn, user, password_hash)
        return user.id

    async def verify_password(self, user: UserRow, password: str) -> None:
        """Re-authentication before a sensitive change: WrongPassword unless it is theirs.
        No database work, so no pooled connection waits on argon2."""
        if not await self.hasher.verify(user.password_hash, password):
            raise WrongPassword()

    async def change_password(
        self, conn: AsyncConnection, user: UserRow, *, password_hash: str
    ) -> None:
        """Store a hash from `hash_new_password`, unless the password changed since `user`
        was read (two changes at once: the later one is refused, not silently lost)."""
        changed = await AccountRepository(conn).replace_password_hash(
            user.id, old=user.password_hash, new=password_hash, now=self.clock()
        )
        if not changed:
            raise Conflict("the password changed meanwhile; try again")
        await self._notify_password_changed(conn, user)

    async def _set_password(self, conn: AsyncConnection, user: UserRow, password_hash: str) -> None:
        # A reset assumes someone else may hold the account: every session and token issued
        # before now is refused from this commit on, whatever happens to the stores after.
        # The link came through the mailbox, so it also confirms an unconfirmed address
        # (and kills its confirmation links, whose holder would otherwise set the password).
        now = self.clock()
        repo = AccountRepository(conn)
        await repo.update_user(
            user.id,
            now=now,
            password_hash=password_hash,
            tokens_valid_after=now,
            email_verified_at=user.email_verified_at or now,
        )
        await repo.revoke_email_tokens(user.id, "verify-email", now)
        await self._notify_password_changed(conn, user)

    async def _notify_password_changed(self, conn: AsyncConnection, user: UserRow) -> None:
        await enqueue_mail(
            self.outbox,
            conn,
            to=user.email,
            template="password-changed",
            context=self._recovery,
        )

    # -- email change, profile, deletion -----------------------------------------------------

    async def request_email_change(
        self, conn: AsyncConnection, user_id: uuid.UUID, *, new_email: str
    ) -> None:
        """Mail a confirmation link to the new address; the change happens when it is used.
        The caller re-authenticated the user first (`verify_password`).

        A new address that already has an account gets no mail and no error, so this cannot
        probe which addresses are registered.
        """
        new_email = normalize_email(new_email)
        repo = AccountRepository(conn)
        holder = await repo.user_by_email(new_email)
        if holder is not None and holder.email_verified_at is not None:
            return
        await repo.revoke_email_tokens(user_id, "change-email", self.clock())
        await self._send_token_mail(
            conn,
            user_id=user_id,
            to=new_email,
            purpose="change-email",
            template="verify-email",
            path="/verify-email",
            ttl=self.verify_ttl,
            new_email=new_email,
        )

    async def me(self, conn: AsyncConnection, user_id: uuid.UUID) -> Me:
        user = await AccountRepository(conn).user_by_id(user_id)
        if user is None:
            raise NotFound("no such account")
        return self.profile_of(user)

    @staticmethod
    def profile_of(user: UserRow) -> Me:
        """What the account owner sees of their account: never the hash or internal fields."""
        return Me(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            email_verified=user.email_verified_at is not None,
            created_at=user.created_at,
        )

    async def update_profile(self, conn: AsyncConnection, user_id: uuid.UUID, **changes: Any) -> Me:
        if changes:
            await AccountRepository(conn).update_user(user_id, now=self.clock(), **changes)
        return await self.me(conn, user_id)

    async def delete_account(self, conn: AsyncConnection, user_id: uuid.UUID) -> None:
        """Delete the account and, by cascade, everything that hangs off it. The caller
        re-authenticated the user first (`verify_password`)."""
        await AccountRepository(conn).delete_user(user_id)

    async def sign_out_everywhere(self, conn: AsyncConnection, user_id: uuid.UUID) -> None:
        """Refuse every access token and session issued before now."""
        now = self.clock()
        await AccountRepository(conn).update_user(user_id, now=now, tokens_valid_after=now)

    async def disable(self, conn: AsyncConnection, user_id: uuid.UUID) -> None:
        now = self.clock()
        await AccountRepository(conn).update_user(
            user_id, now=now, disabled_at=now, tokens_valid_after=now
        )

    # -- audit -------------------------------------------------------------------------------

    async def record(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        kind: str,
        client: ClientInfo,
        **detail: Any,
    ) -> None:
        """Append an authentication event; `detail` must never hold secrets or tokens."""
        await AccountRepository(conn).insert_audit(
            user_id=user_id,
            kind=kind,
            ip=client.ip,
            user_agent=client.user_agent,
            detail=detail,
            now=self.clock(),
        )

    async def audit_log(
        self, conn: AsyncConnection, user_id: uuid.UUID, *, before: int | None, limit: int
    ) -> list[AuditEvent]:
        rows = await AccountRepository(conn).audit_page(user_id, before=before, limit=limit)
        return [
            AuditEvent(
                id=r.id,
                kind=r.kind,
                ip=r.ip,
                user_agent=r.user_agent,
                detail=msgspec.json.decode(r.detail),
                created_at=r.created_at,
            )
            for r in rows
        ]

    # -- helpers -----------------------------------------------------------------------------

    def _check_policy(self, password: str, email: str) -> None:
        errors = self.policy.check(password, email=email)
        if errors:
            raise ValidationFailed(errors)

    async def _send_token_mail(
        self,
        conn: AsyncConnection,
        *,
        user_id: uuid.UUID,
        to: str,
        purpose: EmailPurpose,
        template: str,
        path: str,
        ttl: timedelta,
        new_email: str | None = None,
    ) -> None:
        token = new_token()
        now = self.clock()
        await AccountRepository(conn).insert_email_token(
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            now=now,
            expires_at=now + ttl,
            new_email=new_email,
        )
        await enqueue_mail(
            self.outbox,
            conn,
            to=to,
            template=template,
            context={
                "product": PRODUCT,
                "link": f"{self.public_url}{path}?token={token}",
                "token": token,
            },
        )
