"""Who is calling: a Bearer access token or a session cookie, checked against live state on
every request.

Each request is checked against the refresh family or session it came in on (in its store)
and the account (not gone, not disabled, not signed out everywhere since), so logout,
logout-everywhere, a password change and disabling an account take effect at once. Every
check opens its own short read, one at a time: a pooled connection is never held while
another is taken, which under load would deadlock the pool.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime

from waymark.features.accounts.profile import Profiles
from waymark.features.auth.refs import browser_ref, parse_ref
from waymark.infra.security.access_tokens import AccessTokens, InvalidAccessToken
from waymark.kernel.clock import Clock
from waymark.kernel.errors import CsrfFailed, NotAuthenticated
from waymark.kernel.identity import Account, Principal, hash_token
from waymark.kernel.ports import RefreshTokenStore, SessionStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REFUSED = "invalid or expired access token"


class Authenticator:
    def __init__(
        self,
        *,
        tokens: AccessTokens,
        sessions: SessionStore,
        families: RefreshTokenStore,
        profiles: Profiles,
        clock: Clock,
    ) -> None:
        self.tokens = tokens
        self.sessions = sessions
        self.families = families
        self.profiles = profiles
        self.clock = clock

    async def from_bearer(self, token: str) -> Principal:
        """The caller of a request with `Authorization: Bearer <token>`."""
        now = self.clock.time()
        try:
            claims = self.tokens.verify(token, now=now)
        except InvalidAccessToken:
            raise NotAuthenticated(_REFUSED) from None
        account_id = _account_id(claims.sub)
        parsed = parse_ref(claims.sid)
        # The family must be the subject's own: a token naming another account's live family
        # (which only a holder of our signing key could make) is refused like a dead one.
        if (
            parsed is None
            or parsed[0] != "f"
            or not await self.families.is_live(parsed[1], user_id=claims.sub, now=now)
        ):
            raise NotAuthenticated("the session of this token has ended")
        account = await self._live_account(account_id, issued_at=claims.iat)
        return Principal(
            via="bearer",
            session_ref=claims.sid,
            session_key=parsed[1],
            account=account,
            amr=claims.amr,
        )

    async def from_cookie(
        self, session_id: str, *, method: str, csrf_header: str | None
    ) -> Principal:
        """The caller of a request with the session cookie; a state change also needs the
        session's CSRF token in `csrf_header`."""
        id_hash = hash_token(session_id)
        record = await self.sessions.touch(id_hash, now=self.clock.time())
        if record is None:
            raise NotAuthenticated("no live session")
        if method not in SAFE_METHODS and not (
            csrf_header and hmac.compare_digest(csrf_header.encode(), record.csrf_token.encode())
        ):
            raise CsrfFailed()
        account = await self._live_account(uuid.UUID(record.user_id), issued_at=record.created_at)
        return Principal(
            via="cookie",
            session_ref=browser_ref(id_hash),
            session_key=id_hash,
            account=account,
            csrf_token=record.csrf_token,
            amr=("mfa",) if record.auth_level == "mfa" else (),
        )

    async def _live_account(self, account_id: uuid.UUID, *, issued_at: float) -> Account:
        account = await self.profiles.active(account_id)
        if account is None:
            raise NotAuthenticated("account gone or disabled")
        if issued_before(issued_at, account.tokens_valid_after):
            raise NotAuthenticated("signed out everywhere since this was issued")
        return account


def issued_before(issued_at: float, not_before: datetime | float) -> bool:
    """Whether something issued at `issued_at` predates an account's not-before (a datetime,
    or Unix seconds). Whole seconds: JWT `iat` has no fraction, so every check compares at
    that resolution."""
    cutoff = not_before.timestamp() if isinstance(not_before, datetime) else not_before
    return int(issued_at) < int(cutoff)


def _account_id(subject: str) -> uuid.UUID:
    """The account a token names: its `sub` in the canonical form we issue, else 401."""
    try:
        account_id = uuid.UUID(subject)
    except ValueError:
        raise NotAuthenticated(_REFUSED) from None
    if str(account_id) != subject:
        raise NotAuthenticated(_REFUSED)
    return account_id
