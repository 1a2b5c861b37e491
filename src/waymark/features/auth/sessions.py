"""Browser sessions and API token families: starting, renewing, rotating, listing, ending.

Two ways in, one identity. API clients get a short-lived access JWT and an opaque refresh
token that rotates on every use (the family is kept in a store; a replayed token revokes
it). Browsers get a server-side session whose id lives only in a `__Host-` cookie. Both live
in the ephemeral stores (`waymark.kernel.ports`): Redis in production, SQL tables embedded.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from waymark.features.auth.authenticator import issued_before
from waymark.features.auth.errors import InvalidRefreshToken, RefreshReused
from waymark.features.auth.refs import browser_ref, family_ref, parse_ref
from waymark.features.auth.schemas import SessionView, TokenPair
from waymark.infra.security.access_tokens import AccessTokens
from waymark.kernel.clock import Clock
from waymark.kernel.errors import NotAuthenticated, ServiceUnavailable
from waymark.kernel.identity import Account, ClientInfo, Principal, hash_token, new_token
from waymark.kernel.ports import (
    AuthLevel,
    RefreshFamily,
    RefreshTokenStore,
    Reused,
    Rotated,
    SessionRecord,
    SessionStore,
)

log = structlog.get_logger(__name__)

DAY = 86_400.0


class SessionPolicy:
    """Lifetimes: browser sessions idle 30 min / absolute 12 h; refresh families idle 14 d /
    absolute 30 d; a repeat of a rotation within `refresh_grace` gets the same successor."""

    session_idle: float = 30 * 60
    session_absolute: float = 12 * 3600
    refresh_idle: float = 14 * DAY
    refresh_absolute: float = 30 * DAY
    refresh_grace: float = 5.0


class NewSession:
    """A browser session just started or renewed: the raw id exists only here, once, on its
    way into the cookie."""

    __slots__ = ("id", "record")

    def __init__(self, session_id: str, record: SessionRecord) -> None:
        self.id = session_id
        self.record = record

    def __repr__(self) -> str:
        return f"NewSession(ref={browser_ref(self.record.id_hash)!r})"


class Sessions:
    def __init__(
        self,
        *,
        tokens: AccessTokens,
        sessions: SessionStore,
        families: RefreshTokenStore,
        clock: Clock,
        policy: SessionPolicy | None = None,
        claims: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.claims = claims
        self.tokens = tokens
        self.sessions = sessions
        self.families = families
        self.clock = clock
        self.policy = policy or SessionPolicy()

    # -- starting ----------------------------------------------------------------------------

    async def start_family(
        self, account: Account, client: ClientInfo, *, amr: tuple[str, ...] = ("pwd",)
    ) -> tuple[TokenPair, str]:
        """Start a refresh family for an API client and hand out its first tokens; and the
        family's id. `amr` (how the sign-in was proved) goes into every access token of the
        family, for its whole life: a refresh never upgrades it."""
        now = self.clock.time()
        refresh = new_token()
        family = RefreshFamily(
            id=uuid.uuid4().hex,
            user_id=str(account.id),
            created_at=now,
            last_used_at=now,
            idle_timeout=self.policy.refresh_idle,
            absolute_expires_at=now + self.policy.refresh_absolute,
            current_hash=hash_token(refresh),
            ip=client.ip,
            user_agent=client.user_agent,
            amr=" ".join(amr),
        )
        await self.families.create_family(family)
        return self._pair(account.id, family.id, refresh, now, family.amr), family.id

    async def start_browser_session(
        self, account: Account, client: ClientInfo, *, auth_level: AuthLevel = "password"
    ) -> NewSession:
        """A new browser session. Always a fresh id: an id from before sign-in is never
        promoted (session fixation); `auth_level` "mfa" only once a second factor passed."""
        now = self.clock.time()
        session_id = new_token()
        record = SessionRecord(
            id_hash=hash_token(session_id),
            user_id=str(account.id),
            created_at=now,
            last_seen_at=now,
            idle_timeout=self.policy.session_idle,
            absolute_expires_at=now + self.policy.session_absolute,
            csrf_token=secrets.token_urlsafe(32),
            ip=client.ip,
            user_agent=client.user_agent,
            auth_level=auth_level,
        )
        await self.sessions.create(record)
        return NewSession(session_id, record)

    async def regenerate(
        self, principal: Principal, *, auth_level: AuthLevel | None = None
    ) -> NewSession | None:
        """A new id and CSRF token for the caller's browser session, in one atomic step of
        the store: the old id stops working at once.

        For re-authentication and privilege changes (docs/security.md: session ids are
        regenerated on sign-in, MFA completion and privilege change): an id or CSRF token an
        attacker planted or saw before is worth nothing after. The session keeps its start
        and absolute expiry; `auth_level` may rise. None for API clients, whose access
        tokens hang off the refresh family instead.
        """
        if principal.via != "cookie":
            return None
        session_id = new_token()
        renewed = await self.sessions.renew(
            principal.session_key,
            new_id_hash=hash_token(session_id),
            csrf_token=secrets.token_urlsafe(32),
            now=self.clock.time(),
            auth_level=auth_level,
        )
        if renewed is None:
            raise NotAuthenticated("no live session")
        return NewSession(session_id, renewed)

    # -- refreshing --------------------------------------------------------------------------

    async def rotate(self, refresh_token: str) -> Rotated:
        """Rotate a refresh token in its family's store. A token already rotated (after the
        grace window) revokes its whole family: RefreshReused, for the caller to audit."""
        successor = new_token()
        result = await self.families.rotate(
            hash_token(refresh_token),
            successor=successor,
            successor_hash=hash_token(successor),
            now=self.clock.time(),
            grace=self.policy.refresh_grace,
        )
        if isinstance(result, Reused):
            raise RefreshReused(uuid.UUID(result.user_id), result.family_id)
        if not isinstance(result, Rotated):
            raise InvalidRefreshToken(f"refresh token {result.reason}")
        return result

    def access_for(self, rotated: Rotated) -> TokenPair:
        """The tokens a rotation hands out: the successor, and an access token for it."""
        family = rotated.family
        return self._pair(
            uuid.UUID(family.user_id), family.id, rotated.token, self.clock.time(), family.amr
        )

    def _pair(
        self, user_id: uuid.UUID, family_id: str, refresh: str, now: float, amr: str
    ) -> TokenPair:
        # The deployment's claims (the `claims` callback) never replace how sign-in was proved.
        extra = {**(self.claims(str(user_id)) if self.claims else {}), **amr_claims(amr.split())}
        access = self.tokens.issue(
            str(user_id), session_id=family_ref(family_id), now=now, extra=extra
        )
        return TokenPair(
            access_token=access, expires_in=self.tokens.lifetime, refresh_token=refresh
        )

    # -- ending ------------------------------------------------------------------------------

    async def end(self, principal: Principal) -> None:
        """End the session or refresh family this request came in with."""
        if principal.via == "cookie":
            await self.sessions.delete(principal.session_key)
        else:
            await self.families.revoke_family(principal.session_key)

    async def end_family(self, family_id: str) -> None:
        await self.families.revoke_family(family_id)

    async def end_all(self, account_id: uuid.UUID, *, keep: Principal | None = None) -> int:
        """End every session and refresh family of the account, except `keep`'s own."""
        keep_session = keep.session_key if keep and keep.via == "cookie" else None
        keep_family = keep.session_key if keep and keep.via == "bearer" else None
        ended = await self.sessions.delete_for_user(str(account_id), keep=keep_session)
        ended += await self.families.revoke_user(str(account_id), keep=keep_family)
        return ended

    async def end_begun_before(self, account_id: uuid.UUID, not_before: float) -> int:
        """End the account's sessions and refresh families that began before `not_before`
        (`issued_before`, the authenticator's own rule), keeping those begun since: after a
        password reset the owner may sign in again before this tidy-up runs, and that new
        session must live."""
        user_id, now = str(account_id), self.clock.time()
        ended = 0
        for session in await self.sessions.list_for_user(user_id, now=now):
            if issued_before(session.created_at, not_before):
                ended += await self.sessions.delete(session.id_hash)
        for family in await self.families.list_for_user(user_id, now=now):
            if issued_before(family.created_at, not_before):
                ended += await self.families.revoke_family(family.id)
        return ended

    async def end_all_quietly(self, account_id: uuid.UUID) -> None:
        """`end_all` as clean-up after the account already refuses its sessions (a reset
        moved its not-before, a deletion removed it): a store outage is logged, not raised,
        so the caller is not told that a change which happened failed."""
        try:
            await self.end_all(account_id)
        except ServiceUnavailable as exc:
            log.warning("sessions_not_tidied", account_id=str(account_id), error=str(exc))

    # -- listing -----------------------------------------------------------------------------

    async def list(self, principal: Principal) -> list[SessionView]:
        """The caller's browser sessions and API token families, most recently used first."""
        now = self.clock.time()
        user = str(principal.account_id)
        views = [
            _view(browser_ref(s.id_hash), "session", s.created_at, s.last_seen_at, s, principal)
            for s in await self.sessions.list_for_user(user, now=now)
        ]
        views += [
            _view(family_ref(f.id), "api", f.created_at, f.last_used_at, f, principal)
            for f in await self.families.list_for_user(user, now=now)
        ]
        return sorted(views, key=lambda v: v.last_seen_at, reverse=True)

    async def revoke(self, principal: Principal, session_ref: str) -> bool:
        """End one of the caller's own sessions or families; False if it is not theirs."""
        now = self.clock.time()
        user = str(principal.account_id)
        parsed = parse_ref(session_ref)
        if parsed is not None and parsed[0] == "f":
            for family in await self.families.list_for_user(user, now=now):
                if family_ref(family.id) == session_ref:
                    return await self.families.revoke_family(family.id)
        elif parsed is not None:
            for session in await self.sessions.list_for_user(user, now=now):
                if browser_ref(session.id_hash) == session_ref:
                    return await self.sessions.delete(session.id_hash)
        return False


def amr_claims(amr: list[str]) -> dict[str, Any]:
    """`amr` (RFC 8176 method values) and `acr`: `aal2` when a second factor was proved."""
    return {"amr": amr, "acr": "aal2" if "mfa" in amr else "aal1"}


def _view(
    ref: str,
    kind: str,
    created_at: float,
    last_seen_at: float,
    stored: SessionRecord | RefreshFamily,
    principal: Principal,
) -> SessionView:
    return SessionView(
        id=ref,
        kind=kind,  # type: ignore[arg-type]
        created_at=datetime.fromtimestamp(created_at, UTC),
        last_seen_at=datetime.fromtimestamp(last_seen_at, UTC),
        ip=stored.ip,
        user_agent=stored.user_agent,
        current=principal.session_ref == ref,
    )
