"""Ports: what features need from infrastructure, with the semantics every adapter must keep.

Each port has an embedded adapter (no server: the SQL database, in-process) and a production
one (Redis, a broker, SMTP, ...). One contract test suite runs against every adapter, so the
two profiles behave the same. Times are Unix epoch seconds (float) passed in by the caller,
so tests control the clock and every adapter agrees on "now".
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

# -- Rate limits ---------------------------------------------------------------------------


class RateLimitDecision(msgspec.Struct, frozen=True, kw_only=True):
    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    """Seconds until the limit is fully available again."""
    retry_after: float
    """Seconds until the next request would be allowed; 0 when `allowed`."""


class RateLimiter(Protocol):
    async def hit(
        self, key: str, *, limit: int, period: float, now: float, cost: int = 1
    ) -> RateLimitDecision:
        """Count `cost` against `key`: at most `limit` per `period` seconds (GCRA).

        Atomic across processes: N concurrent callers never get more than `limit` allowed.
        A denied hit consumes nothing.
        """
        ...

    async def reset(self, key: str) -> None: ...


# -- Browser sessions ----------------------------------------------------------------------


AuthLevel = Literal["password", "mfa"]
"""How a session's user proved who they are."""


class SessionRecord(msgspec.Struct, kw_only=True):
    id_hash: str
    """SHA-256 of the session id; the raw id exists only in the user's cookie."""
    user_id: str
    created_at: float
    last_seen_at: float
    idle_timeout: float
    absolute_expires_at: float
    csrf_token: str
    ip: str = ""
    user_agent: str = ""
    auth_level: AuthLevel = "password"


TOUCH_GRANULARITY = 5.0
"""Seconds a session's recorded activity may lag behind its last request."""


class SessionStore(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def touch(self, id_hash: str, *, now: float) -> SessionRecord | None:
        """The live session, its idle expiry slid to `now + idle_timeout`; None if absent,
        idle for longer than `idle_timeout`, or past `absolute_expires_at` (then deleted).

        A store may skip the write when the recorded `last_seen_at` is less than
        `TOUCH_GRANULARITY` seconds old (the embedded store does, so a page of cookie
        requests is not a page of SQLite writes); the idle expiry then lags `now` by at most
        that much, and the returned record shows what is recorded."""
        ...

    async def renew(
        self,
        id_hash: str,
        *,
        new_id_hash: str,
        csrf_token: str,
        now: float,
        auth_level: AuthLevel | None = None,
    ) -> SessionRecord | None:
        """Move a live session to a new id in one atomic step (session-id regeneration on
        re-authentication and privilege change). Afterwards nothing is stored under `id_hash`;
        under `new_id_hash` is the same session (user, created_at, idle timeout, absolute expiry,
        ip, user agent kept) with the new `csrf_token`, `last_seen_at = now` (idle expiry slid as
        a touch would), and `auth_level` when given. Returns the renewed record; None, changing
        nothing, when `id_hash` is not a live session (absent, idle too long, or past its
        absolute expiry)."""
        ...

    async def delete(self, id_hash: str) -> bool: ...

    async def list_for_user(self, user_id: str, *, now: float) -> list[SessionRecord]:
        """Live sessions, newest first."""
        ...

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of the user except `keep` (an id hash); returns how many."""
        ...


# -- Refresh-token families ----------------------------------------------------------------


class RefreshFamily(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    created_at: float
    last_used_at: float
    idle_timeout: float
    absolute_expires_at: float
    current_hash: str
    """SHA-256 of the one refresh token of this family that may be used next."""
    ip: str = ""
    user_agent: str = ""


class Rotated(msgspec.Struct, frozen=True, kw_only=True):
    family: RefreshFamily
    token: str
    """The successor token (raw). Within the grace window a repeat of the same rotation gets
    the same successor back, so N concurrent refreshes yield exactly one successor."""


class Reused(msgspec.Struct, frozen=True, kw_only=True):
    family_id: str
    user_id: str
    """A rotated token came back after the grace window: the whole family is now revoked."""


class Invalid(msgspec.Struct, frozen=True):
    reason: Literal["unknown", "expired", "revoked"]


RotationResult = Rotated | Reused | Invalid


class RefreshTokenStore(Protocol):
    async def create_family(self, family: RefreshFamily) -> None: ...

    async def rotate(
        self,
        token_hash: str,
        *,
        successor: str,
        successor_hash: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        """Atomically replace the family's current token by `successor`.

        - `token_hash` is current and the family is live (idle and absolute expiry): Rotated
          with `successor`; the old hash is remembered as rotated, with the successor kept
          (raw) for `grace` seconds.
        - `token_hash` was rotated less than `grace` seconds ago: Rotated with the successor
          chosen then (not the one passed now).
        - `token_hash` was rotated longer ago: the family is revoked; Reused.
        - otherwise Invalid.
        """
        ...

    async def revoke_family(self, family_id: str) -> bool: ...

    async def is_live(self, family_id: str, *, user_id: str, now: float) -> bool:
        """Whether the family exists, belongs to `user_id`, is not revoked and has not
        expired; reads only.

        Checked on every request with an access token, so logging out takes effect at once;
        the owner check binds a token's session to its subject."""
        ...

    async def list_for_user(self, user_id: str, *, now: float) -> list[RefreshFamily]:
        """Live families, most recently used first."""
        ...

    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        """Revoke every family of the user except `keep` (a family id); returns how many."""
        ...


# -- Mail ----------------------------------------------------------------------------------


class MailMessage(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    """One address in canonical form (`kernel.email_address.normalize_email`); a mailer
    sends to exactly it, and refuses anything else."""
    subject: str
    text: str
    html: str | None = None
    message_id: str
    """Stable across retries, so a receiver can drop duplicates."""


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None:
        """Deliver or raise; the outbox relay retries on any exception."""
        ...
