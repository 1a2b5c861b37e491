"""Authentication: logging in, tokens for API clients, sessions for browsers, revocation.

Two ways in, one identity. API clients get a short-lived access JWT and an opaque refresh
token that rotates on every use (the family is kept server-side; a replayed token revokes it).
Browsers get a server-side session whose id lives only in a `__Host-` cookie. Either way each
request is checked against live state (the family or session, and the user row), so logout,
logout-everywhere, a password change and disabling an account take effect at once.

The service opens its own short reads, one at a time: a pooled connection is never held
while another is taken (store calls open their own), which under load would deadlock the pool.
"""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from waymark.features.accounts.errors import CsrfFailed, NotAuthenticated
from waymark.features.accounts.repository import UserRow
from waymark.features.accounts.service import AccountService, ClientInfo, hash_token, new_token
from waymark.features.auth.errors import InvalidRefreshToken, RefreshReused
from waymark.features.auth.schemas import Principal, SessionView, TokenPair
from waymark.infra.security.access_tokens import AccessTokens, InvalidAccessToken
from waymark.infra.sql.database import Database
from waymark.kernel.errors import ServiceUnavailable
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

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DAY = 86_400.0


class SessionPolicy:
    """Lifetimes, from the issue: sessions idle 30 min / absolute 12 h; refresh idle 14 d /
    absolute 30 d; a concurrent refresh within `refresh_grace` gets the same successor."""

    session_idle: float = 30 * 60
    session_absolute: float = 12 * 3600
    refresh_idle: float = 14 * DAY
    refresh_absolute: float = 30 * DAY
    refresh_grace: float = 5.0


class AuthService:
    def __init__(
        self,
        *,
        accounts: AccountService,
        db: Database,
        tokens: AccessTokens,
        sessions: SessionStore,
        families: RefreshTokenStore,
        policy: SessionPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.db = db
        self.tokens = tokens
        self.sessions = sessions
        self.families = families
        self.policy = policy or SessionPolicy()
        self.clock = clock

    # -- ways in -----------------------------------------------------------------------------

    async def issue_tokens(self, user: UserRow, client: ClientInfo) -> TokenPair:
        """Start a refresh family for an API client and hand out its first tokens."""
        now = self.clock()
        refresh = new_token()
        family = RefreshFamily(
            id=uuid.uuid4().hex,
            user_id=str(user.id),
            created_at=now,
            last_used_at=now,
            idle_timeout=self.policy.refresh_idle,
            absolute_expires_at=now + self.policy.refresh_absolute,
            current_hash=hash_token(refresh),
            ip=client.ip,
            user_agent=client.user_agent,
        )
        await self.families.create_family(family)
        return self._pair(user.id, family.id, refresh, now)

    async def start_session(self, user: UserRow, client: ClientInfo) -> tuple[str, SessionRecord]:
        """A new browser session; the raw id is returned once, for the cookie.

        Always a fresh id: an id from before login is never promoted (session fixation).
        """
        now = self.clock()
        session_id = new_token()
        record = SessionRecord(
            id_hash=hash_token(session_id),
            user_id=str(user.id),
            created_at=now,
            last_seen_at=now,
            idle_timeout=self.policy.session_idle,
            absolute_expires_at=now + self.policy.session_absolute,
            csrf_token=secrets.token_urlsafe(32),
            ip=client.ip,
            user_agent=client.user_agent,
        )
        await self.sessions.create(record)
        return session_id, record

    async def regenerate_session(
        self, principal: Principal, *, auth_level: AuthLevel | None = None
    ) -> tuple[str, SessionRecord] | None:
        """A new id and CSRF token for the caller's browser session, in one atomic step of
        the store: the old id stops working at once.

        For re-authentication and privilege changes (SECURITY.md: session ids are regenerated
        on login, MFA completion and privilege change): an id or CSRF token an attacker
        planted or saw before is worth nothing after. The session keeps its start and
        absolute expiry; `auth_level` may rise. None for API clients, whose access tokens
        hang off the refresh family instead.
        """
        if principal.via != "cookie":
            return None
        session_id = new_token()
        renewed = await self.sessions.renew(
            principal.session_key,
            new_id_hash=hash_token(session_id),
            csrf_token=secrets.token_urlsafe(32),
            now=self.clock(),
            auth_level=auth_level,
        )
        if renewed is None:
            raise NotAuthenticated("no live session")
        return session_id, renewed

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token. A token already rotated (after the grace window) revokes
        its whole family: RefreshReused, for the caller to audit."""
        now = self.clock()
        successor = new_token()
        result = await self.families.rotate(
            hash_token(refresh_token),
            successor=successor,
            successor_hash=hash_token(successor),
            now=now,
            grace=self.policy.refresh_grace,
        )
        if isinstance(result, Reused):
            raise RefreshReused(uuid.UUID(result.user_id), result.family_id)
        if not isinstance(result, Rotated):
            raise InvalidRefreshToken(f"refresh token {result.reason}")
        user_id = uuid.UUID(result.family.user_id)
        async with self.db.read() as conn:
            user = await self.accounts.active_user(conn, user_id)
        if user is None or _before(result.family.created_at, user.tokens_valid_after):
            # Gone, disabled, or signed out everywhere (a reset, logout-all) since the family
            # began: the row says so even if ending the family in the store failed then.
            await self.families.revoke_family(result.family.id)
            raise InvalidRefreshToken("account gone, disabled or signed out since")
        return self._pair(user_id, result.family.id, result.token, now)

    def _pair(self, user_id: uuid.UUID, family_id: str, refresh: str, now: float) -> TokenPair:
        access = self.tokens.issue(str(user_id), session_id=f"f:{family_id}", now=now)
        return TokenPair(
            access_token=access, expires_in=self.tokens.lifetime, refresh_token=refresh
        )

    # -- every request -----------------------------------------------------------------------

    async def from_bearer(self, token: str) -> Principal:
        now = self.clock()
        try:
            claims = self.tokens.verify(token, now=now)
        except InvalidAccessToken:
            raise NotAuthenticated("invalid or expired access token") from None
        user_id = _user_id(claims.sub)
        kind, _, family_id = claims.sid.partition(":")
        # The family must be the subject's own: a token naming another user's live session
        # (which only a holder of our signing key could make) is refused like a dead one.
        if kind != "f" or not await self.families.is_live(family_id, user_id=claims.sub, now=now):
            raise NotAuthenticated("the session of this token has ended")
        user = await self._require_live_user(user_id, issued_at=claims.iat)
        return Principal(via="bearer", session_ref=claims.sid, session_key=family_id, user=user)

    async def from_cookie(
        self, session_id: str, *, method: str, csrf_header: str | None
    ) -> Principal:
        id_hash = hash_token(session_id)
        record = await self.sessions.touch(id_hash, now=self.clock())
        if record is None:
            raise NotAuthenticated("no live session")
        if method not in SAFE_METHODS and not (
            csrf_header and hmac.compare_digest(csrf_header.encode(), record.csrf_token.encode())
        ):
            raise CsrfFailed()
        user = await self._require_live_user(uuid.UUID(record.user_id), issued_at=record.created_at)
        return Principal(
            via="cookie",
            session_ref=f"s:{id_hash[:16]}",
            session_key=id_hash,
            user=user,
        )

    async def _require_live_user(self, user_id: uuid.UUID, *, issued_at: float) -> UserRow:
        # A connection only for this read: never held while a store call takes another one
        # (with a full pool that would wait on itself).
        async with self.db.read() as conn:
            user = await self.accounts.active_user(conn, user_id)
        if user is None:
            raise NotAuthenticated("account gone or disabled")
        if _before(issued_at, user.tokens_valid_after):
            raise NotAuthenticated("signed out everywhere since this was issued")
        return user

    # -- ways out ----------------------------------------------------------------------------

    async def logout(self, principal: Principal) -> None:
        """End the session or refresh family this request came in with."""
        if principal.via == "cookie":
            await self.sessions.delete(principal.session_key)
        else:
            await self.families.revoke_family(principal.session_key)

    async def end_all(self, user_id: uuid.UUID, *, keep: Principal | None = None) -> int:
        """End every session and refresh family of the user, except `keep`'s own."""
        keep_session = keep.session_key if keep and keep.via == "cookie" else None
        keep_family = keep.session_key if keep and keep.via == "bearer" else None
        ended = await self.sessions.delete_for_user(str(user_id), keep=keep_session)
        ended += await self.families.revoke_user(str(user_id), keep=keep_family)
        return ended

    async def end_all_quietly(self, user_id: uuid.UUID) -> None:
        """`end_all` as clean-up after the user row already refuses the sessions (a reset
        moved `tokens_valid_after`, a deletion removed the row): a store outage is logged,
        not raised, so the caller is not told that a change which happened failed."""
        try:
            await self.end_all(user_id)
        except ServiceUnavailable as exc:
            log.warning("sessions_not_tidied", user_id=str(user_id), error=str(exc))

    async def list_sessions(self, principal: Principal) -> list[SessionView]:
        now = self.clock()
        user = str(principal.user_id)
        views = [
            SessionView(
                id=f"s:{s.id_hash[:16]}",
                kind="session",
                created_at=_dt(s.created_at),
                last_seen_at=_dt(s.last_seen_at),
                ip=s.ip,
                user_agent=s.user_agent,
                current=principal.session_ref == f"s:{s.id_hash[:16]}",
            )
            for s in await self.sessions.list_for_user(user, now=now)
        ]
        views += [
            SessionView(
                id=f"f:{f.id}",
                kind="api",
                created_at=_dt(f.created_at),
                last_seen_at=_dt(f.last_used_at),
                ip=f.ip,
                user_agent=f.user_agent,
                current=principal.session_ref == f"f:{f.id}",
            )
            for f in await self.families.list_for_user(user, now=now)
        ]
        return sorted(views, key=lambda v: v.last_seen_at, reverse=True)

    async def revoke(self, principal: Principal, session_ref: str) -> bool:
        """End one of the caller's own sessions or families; False if it is not theirs."""
        now = self.clock()
        user = str(principal.user_id)
        kind, _, key = session_ref.partition(":")
        if kind == "f":
            if any(f.id == key for f in await self.families.list_for_user(user, now=now)):
                return await self.families.revoke_family(key)
        elif kind == "s":
            for s in await self.sessions.list_for_user(user, now=now):
                if s.id_hash[:16] == key:
                    return await self.sessions.delete(s.id_hash)
        return False


def _user_id(subject: str) -> uuid.UUID:
    """The account a token names: its `sub` in the canonical form we issue, else 401."""
    try:
        user_id = uuid.UUID(subject)
    except ValueError:
        raise NotAuthenticated("invalid or expired access token") from None
    if str(user_id) != subject:
        raise NotAuthenticated("invalid or expired access token")
    return user_id


def _before(issued_at: float, not_before: datetime) -> bool:
    """Whether something issued at `issued_at` predates the account's not-before. Whole
    seconds: JWT `iat` has no fraction, so every check compares at that resolution."""
    return int(issued_at) < int(not_before.timestamp())


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
