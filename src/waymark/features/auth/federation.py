"""Signing in through another site, whatever its strategy: starting an attempt, finishing it
when the browser comes back, and the identities an account has linked.

An attempt's `state`, `nonce` and PKCE verifier are made fresh, kept in the database under
the hash of a random id, and that id goes to the browser in a short-lived `SameSite=Lax`
cookie: the callback finishes only the attempt of the browser that began it, once.

An identity is (issuer, subject). One nobody linked signs in to no existing account, even
one whose address it shares (never linked by email alone: an address at another site proves
nothing here). It is linked from a signed-in session (`start(..., link_to=...)`), or, when
the provider verified an address an account here has, by that account's owner following a
single-use link mailed there (`confirm_link`); until then the sign-in says `ConfirmByMail`.

Sign-up through a provider: an identity nobody linked, whose address the provider says it
verified and no account here has, makes a new account (`auth.provider_sign_up`, on unless
a deployment turns it off; the `sign_in` callback sees the account about to be made and may
deny it): confirmed, the display name from the claims, no password, the identity linked.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.errors import (
    ConfirmByMail,
    IdentityNotLinked,
    IdentityTaken,
    LinkConfirmationInvalid,
    LinkDenied,
    ReauthenticatedAsAnother,
    SignInDenied,
    SignInFailed,
    UnknownProvider,
)
from waymark.features.auth.identities import (
    AttemptRow,
    IdentityRepository,
    IdentityRow,
    LinkConfirmationRow,
)
from waymark.features.auth.limits import EXTERNAL_START_IP, LINK_MAIL_ACCOUNT
from waymark.features.auth.schemas import LinkedIdentity, MfaChallenge, SignInOption
from waymark.features.auth.service import AuthService
from waymark.features.auth.sessions import NewSession
from waymark.features.auth.strategies import Attempt, ExternalIdentity, RedirectStrategy
from waymark.features.auth.ways_in import require_another_way_in
from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.authz import PlatformRole
from waymark.kernel.email_address import normalize_email
from waymark.kernel.errors import NotFound, ValidationFailed
from waymark.kernel.identity import Account, ClientInfo, Principal, hash_token, new_token
from waymark.kernel.paths import local_path

ATTEMPT_SECONDS = 600
"""How long a browser may take at the other site."""
LINK_SECONDS = 900
"""How long a mailed link-confirmation works."""
REAUTH_SECONDS = 300
"""How long a re-authentication through a provider stands in for the password."""


@dataclass(frozen=True)
class Finished:
    """What a callback came to: a browser session (`session`), a second-factor challenge
    (`challenge`, MFA on), or an identity linked to, or a re-authentication of, the account
    signed in (both None); then the browser goes to `next_path` (after the challenge, for
    one)."""

    next_path: str
    session: NewSession | None = None
    challenge: MfaChallenge | None = None
    """The account has MFA on: no session yet, this challenge is to be answered first."""


class Federation:
    def __init__(
        self,
        *,
        db: Database,
        auth: AuthService,
        strategies: dict[str, RedirectStrategy],
        public_url: str,
        outbox: Outbox,
        sign_up: bool = True,
    ) -> None:
        self.sign_up = sign_up
        self.outbox = outbox
        self.db = db
        self.auth = auth
        self.strategies = strategies
        self.public_url = public_url.rstrip("/")
        self.clock = auth.sessions.clock

    def options(self) -> list[SignInOption]:
        """The providers this deployment turned on, for the sign-in page's buttons."""
        return [SignInOption(name=s.name, label=s.label) for s in self.strategies.values()]

    def redirect_uri(self, provider: str) -> str:
        return f"{self.public_url}/auth/{provider}/callback"

    async def start(
        self,
        provider: str,
        *,
        next_path: str | None,
        client: ClientInfo,
        link_to: Principal | None = None,
        reauthenticate: Principal | None = None,
    ) -> tuple[str, str]:
        """Begin an attempt: the pre-login cookie's value, and where to send the browser.
        `link_to` links the identity to that caller's account; `reauthenticate` proves
        that caller again, for the sensitive changes of the next `REAUTH_SECONDS` (a fresh
        sign-in there where the provider can be made to ask: see `Attempt.fresh_since`).
        Throttled per IP (each attempt is stored until it is finished or expires)."""
        strategy = self._strategy(provider)
        await self.auth.throttle.check((EXTERNAL_START_IP, client.ip))
        now = self.clock.now()
        signed_in = link_to or reauthenticate
        attempt = Attempt(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            redirect_uri=self.redirect_uri(provider),
            fresh_since=now.timestamp() if reauthenticate else None,
        )
        url = await strategy.authorization_url(attempt)
        attempt_id = new_token()
        row = AttemptRow(
            provider=provider,
            state=attempt.state,
            nonce=attempt.nonce,
            verifier=attempt.verifier,
            link_to=signed_in.account_id if signed_in else None,
            next_path=local_path(next_path, "/settings" if signed_in else "/"),
            expires_at=now + timedelta(seconds=ATTEMPT_SECONDS),
            reauth_session=reauthenticate.session_key if reauthenticate else None,
        )
        async with self.db.transaction() as conn:
            await IdentityRepository(conn).add_attempt(hash_token(attempt_id), row, now=now)
        return attempt_id, url

    async def finish(
        self,
        provider: str,
        *,
        attempt_id: str | None,
        state: str,
        code: str,
        current: Principal | None,
        client: ClientInfo,
    ) -> Finished:
        """The browser came back from `provider` with `state` and `code`: finish this
        browser's attempt (once), prove the identity, then sign in or link."""
        strategy = self._strategy(provider)
        row = None
        if attempt_id:
            async with self.db.transaction() as conn:
                row = await IdentityRepository(conn).take_attempt(hash_token(attempt_id))
        if (
            row is None
            or row.provider != provider
            or row.expires_at <= self.clock.now()
            or not hmac.compare_digest(row.state.encode(), state.encode())
        ):
            raise SignInFailed("no attempt of this browser matches this answer")
        if not code:
            raise SignInFailed("the other site sent no code (refused or cancelled there)")
        began = row.expires_at - timedelta(seconds=ATTEMPT_SECONDS)
        attempt = Attempt(
            state=row.state,
            nonce=row.nonce,
            verifier=row.verifier,
            redirect_uri=self.redirect_uri(provider),
            fresh_since=began.timestamp() if row.reauth_session else None,
        )
        identity = await strategy.identify(code=code, attempt=attempt)
        now = self.clock.now()
        next_path = local_path(row.next_path)
        if row.reauth_session is not None:
            await self._reauthenticated(row, identity, current, client=client)
            return Finished(next_path=next_path)
        async with self.db.transaction() as conn:
            repository = IdentityRepository(conn)
            linked = await repository.by_subject(identity.issuer, identity.subject)
            if row.link_to is not None:
                if current is None or current.account_id != row.link_to:
                    raise SignInFailed("linking began in another session")
                if linked is not None and linked.user_id != row.link_to:
                    raise IdentityTaken()
                if linked is None:
                    await self._link(conn, row.link_to, provider, identity, client=client)
                return Finished(next_path=next_path)
            if linked is not None:
                await repository.used(linked.id, email=identity.email, now=now)
        if linked is None:
            account = await self._sign_up(provider, identity, client=client)
        else:
            found = await self.auth.accounts.profiles.active(linked.user_id)
            if found is None:
                raise SignInFailed("the linked account is gone or disabled")
            if not self.auth.callbacks.allows(found, identity):
                raise SignInDenied()
            account = found
        issued = await self.auth.issue(account, mode="session", client=client, via=provider)
        if isinstance(issued, MfaChallenge):
            return Finished(next_path=next_path, challenge=issued)
        assert isinstance(issued, NewSession)
        return Finished(next_path=next_path, session=issued)

    async def _reauthenticated(
        self,
        row: AttemptRow,
        identity: ExternalIdentity,
        current: Principal | None,
        *,
        client: ClientInfo,
    ) -> None:
        """Record that the session `row` began in proved itself again, back in that same
        session, with an identity linked to its account (else `ReauthenticatedAsAnother`,
        audited as a failed re-authentication). Like the password asked again, it keeps
        the session's id: a step-up's record, under that id, still counts (a session
        planted by someone else cannot be proved with this account's linked identity)."""
        user_id = row.link_to
        if user_id is None or current is None or current.session_key != row.reauth_session:
            raise SignInFailed("re-authentication began in another session")
        async with self.db.read() as conn:
            linked = await IdentityRepository(conn).by_subject(identity.issuer, identity.subject)
        if linked is None or linked.user_id != user_id:
            await self.auth.accounts.audit.record_alone(
                user_id, "reauth.failed", client, action="provider", provider=row.provider
            )
            raise ReauthenticatedAsAnother()
        key, now = current.session_key, self.clock.now()
        async with self.db.transaction() as conn:
            repository = IdentityRepository(conn)
            await repository.used(linked.id, email=identity.email, now=now)
            await repository.record_reauthentication(key, user_id, provider=row.provider, now=now)
            await self.auth.accounts.audit.record(
                conn, user_id, "reauth.succeeded", client, provider=row.provider
            )

    async def recently_reauthenticated(self, account_id: uuid.UUID, session_key: str) -> bool:
        """`kernel.ports.RecentReauthentication`: this session proved itself again through
        a linked provider in the last `REAUTH_SECONDS`."""
        since = self.clock.now() - timedelta(seconds=REAUTH_SECONDS)
        async with self.db.read() as conn:
            return await IdentityRepository(conn).reauthenticated_since(
                session_key, account_id, since
            )

    async def _sign_up(
        self, provider: str, identity: ExternalIdentity, *, client: ClientInfo
    ) -> Account:
        """A new account for an identity nobody linked (see the module's docstring); else
        `IdentityNotLinked` (sign-up off, no verified address, or an account has it)."""
        if not (identity.email_verified and identity.email):
            raise IdentityNotLinked()
        try:
            email = normalize_email(identity.email)
        except ValidationFailed:
            raise IdentityNotLinked() from None
        owner = await self.auth.accounts.profiles.id_of(email)
        if owner is not None:
            await self._ask_owner(owner, email, provider, identity, client=client)
            raise ConfirmByMail()
        if not self.sign_up:
            raise IdentityNotLinked()
        now = self.clock.now()
        name = identity.name or email.partition("@")[0]
        about_to_be = Account(
            id=uuid.uuid4(),
            email=email,
            display_name=name,
            time_zone="UTC",
            email_verified=True,
            disabled=False,
            platform_role=PlatformRole.LEARNER,
            team_reminders=True,
            weekly_digest=True,
            tokens_valid_after=now,
            created_at=now,
        )
        if not self.auth.callbacks.allows(about_to_be, identity):
            raise SignInDenied()
        made = await self.auth.accounts.registration.create_external(
            account_id=about_to_be.id, email=email, display_name=name
        )
        if made is None:
            raise IdentityNotLinked()  # the address is an account's: its owner links it
        async with self.db.transaction() as conn:
            await self.auth.accounts.audit.record(
                conn, made, "account.created", client, via=provider
            )
            await self._link(conn, made, provider, identity, client=client)
        account = await self.auth.accounts.profiles.active(made)
        assert account is not None
        return account

    async def _ask_owner(
        self,
        owner: uuid.UUID,
        email: str,
        provider: str,
        identity: ExternalIdentity,
        *,
        client: ClientInfo,
    ) -> None:
        """Mail the owner of `email` a single-use, `LINK_SECONDS` link (kept as its hash)
        that links this identity to their account once they follow it signed in."""
        account = await self.auth.accounts.profiles.active(owner)
        if account is None:
            raise IdentityNotLinked()
        await self.auth.throttle.check((LINK_MAIL_ACCOUNT, str(owner)))
        token, now = new_token(), self.clock.now()
        row = LinkConfirmationRow(
            user_id=owner,
            provider=provider,
            issuer=identity.issuer,
            subject=identity.subject,
            email=identity.email,
            expires_at=now + timedelta(seconds=LINK_SECONDS),
        )
        label = self._strategy(provider).label
        async with self.db.transaction() as conn:
            await IdentityRepository(conn).add_link_confirmation(hash_token(token), row, now=now)
            await enqueue_mail(
                self.outbox,
                conn,
                to=email,
                template="link-identity",
                context={
                    "link": f"{self.public_url}/auth/link/confirm?token={token}",
                    "provider": label,
                    "minutes": LINK_SECONDS // 60,
                },
            )
            await self.auth.accounts.audit.record(
                conn, owner, "identity.link-mailed", client, provider=provider
            )

    async def confirm_link(self, principal: Principal, token: str, *, client: ClientInfo) -> None:
        """Follow a mailed link, signed in as the account it was mailed to (after its own
        first factor and MFA): the identity is linked. Once, within `LINK_SECONDS`."""
        async with self.db.transaction() as conn:
            repository = IdentityRepository(conn)
            row = await repository.take_link_confirmation(hash_token(token))
            if (
                row is None
                or row.expires_at <= self.clock.now()
                or row.user_id != principal.account_id
            ):
                raise LinkConfirmationInvalid()
            linked = await repository.by_subject(row.issuer, row.subject)
            if linked is not None:
                if linked.user_id != principal.account_id:
                    raise IdentityTaken()
                return
            identity = ExternalIdentity(
                issuer=row.issuer, subject=row.subject, email=row.email, email_verified=True
            )
            await self._link(conn, principal.account_id, row.provider, identity, client=client)

    async def _link(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        provider: str,
        identity: ExternalIdentity,
        *,
        client: ClientInfo,
    ) -> None:
        if not self.auth.callbacks.allows_link(str(user_id), identity):
            raise LinkDenied()
        await IdentityRepository(conn).link(
            IdentityRow(
                id=uuid.uuid4(),
                user_id=user_id,
                provider=provider,
                issuer=identity.issuer,
                subject=identity.subject,
                email=identity.email,
                created_at=self.clock.now(),
                last_used_at=None,
            )
        )
        await self.auth.accounts.audit.record(
            conn, user_id, "identity.linked", client, provider=provider
        )

    async def identities(self, principal: Principal) -> list[LinkedIdentity]:
        async with self.db.read() as conn:
            rows = await IdentityRepository(conn).of_user(principal.account_id)
        return [LinkedIdentity.of(row) for row in rows]

    async def unlink(
        self, principal: Principal, identity_id: uuid.UUID, *, client: ClientInfo
    ) -> None:
        """Remove a linked identity; never the last way in (no password way in, as when the
        deployment turned passwords off or the account never had one, no other identity and
        no passkey)."""
        password = self.auth.password_on and await self.auth.accounts.credentials.has_password(
            principal.account_id
        )
        async with self.db.transaction() as conn:
            repository = IdentityRepository(conn)
            mine = {row.id for row in await repository.of_user(principal.account_id)}
            if identity_id not in mine:
                raise NotFound("no such linked identity")
            await require_another_way_in(conn, principal.account_id, password=password)
            await repository.unlink(principal.account_id, identity_id)
            await self.auth.accounts.audit.record(
                conn, principal.account_id, "identity.unlinked", client, identity=str(identity_id)
            )

    def _strategy(self, provider: str) -> RedirectStrategy:
        strategy = self.strategies.get(provider)
        if strategy is None:
            raise UnknownProvider()
        return strategy
