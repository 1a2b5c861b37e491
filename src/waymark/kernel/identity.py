"""Who is acting, as every feature and transport may see it: the account (never its
password hash), the authenticated caller, the client on the other end of a request, and the
opaque secrets (session ids, refresh tokens, mailed links) that identify things by being
known, stored only as their hashes.

The accounts feature makes `Account`s, the auth feature makes `Principal`s; everything else
reads them, so no feature needs another's internals to know who is calling.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Literal

import msgspec

from waymark.kernel.authz import PlatformRole, Subject, TeamRole


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """An account as the rest of Waymark sees it: never its password hash."""

    id: uuid.UUID
    email: str
    """Canonical (`normalize_email`)."""
    display_name: str
    time_zone: str
    """IANA name (`Europe/Paris`): the days of the account's streaks are this zone's."""
    email_verified: bool
    disabled: bool
    platform_role: PlatformRole
    """Read with the account on every request, so a grant or a revoke counts at once."""
    team_reminders: bool
    """Whether the account takes its teams' reminder mails (its own setting)."""
    weekly_digest: bool
    """Whether the account takes the weekly progress digest mail (its own setting)."""
    tokens_valid_after: datetime
    """Sessions and access tokens issued before this instant are refused."""
    created_at: datetime

    def subject(self, team_role: TeamRole | None = None) -> Subject:
        """The account as the policy (`kernel.authz`) sees it acting, with its role in the
        team concerned, if any."""
        return Subject(account_id=self.id, platform_role=self.platform_role, team_role=team_role)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller: an account, and the session or token family it came in on."""

    via: Literal["bearer", "cookie"]
    session_ref: str
    """How the session is named to its user (`GET /me/sessions`): `s:...` for a browser
    session, `f:...` for an API client's token family."""
    session_key: str
    """The store key: the session id's hash, or the refresh family's id."""
    account: Account
    """The account as read for this request (live, not disabled)."""
    csrf_token: str = ""
    """A browser session's CSRF token, for pages that put it in their forms (the
    synchronizer token); empty for a Bearer token, which needs none."""
    amr: tuple[str, ...] = ()
    """How the sign-in was proved, RFC 8176 method values (`pwd`, `fed`, `otp`, `mfa`): an
    access token's `amr` claim; a browser session says only `mfa` or nothing."""

    @property
    def mfa(self) -> bool:
        """Whether a second factor was proved when this session or token family began."""
        return "mfa" in self.amr

    @property
    def account_id(self) -> uuid.UUID:
        return self.account.id


class ClientInfo(msgspec.Struct, frozen=True):
    """Who is on the other end, for audit logs, session lists and rate limits."""

    ip: str = ""
    user_agent: str = ""


def new_token() -> str:
    """256 bits from the CSPRNG, URL-safe: a session id, refresh token or mailed link."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a token: SHA-256 (the token has 256 random bits, so no salt or
    slow hash is needed), hex."""
    return hashlib.sha256(token.encode()).hexdigest()
