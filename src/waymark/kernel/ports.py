"""Ports: what features need from infrastructure, with the semantics every adapter must keep.

Each port has an embedded adapter (no server: the SQL database, in-process) and a production
one (Redis, a broker, SMTP, ...). One contract test suite runs against every adapter, so the
two profiles behave the same. Times are Unix epoch seconds (float) passed in by the caller,
so tests control the clock and every adapter agrees on "now".
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec

from waymark.kernel.identity import Principal

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


class SessionRenewal(Protocol):
    """Regenerate the caller's browser session (new id, new CSRF token, the old ones dead at
    once) after a change to the caller's own privileges, for a feature that makes such a
    change (joining a team, handing it over). The auth feature owns sessions and provides
    it; the composition root hands it over. Returns the new raw id and the renewed record,
    or None for a Bearer caller (whose tokens carry no privileges to renew)."""

    async def __call__(self, principal: Principal) -> tuple[str, SessionRecord] | None: ...


class StepUp(Protocol):
    """Ask for a recent second factor before a sensitive action (a password or email change,
    turning MFA off, deleting the account, handing a team over): raises
    `kernel.errors.StepUpRequired` (403 `step-up-required`) when the account has MFA on and
    the caller's session proved no second factor in the last minutes; returns otherwise. The
    auth feature provides it; the composition root hands it to the features that need it."""

    async def __call__(self, principal: Principal) -> None: ...


async def no_step_up(principal: Principal) -> None:
    """`StepUp` where no second factor exists (tests building a feature alone)."""


class RecentReauthentication(Protocol):
    """Whether the account re-authenticated on this session or token family (`session_key`)
    through another site it linked, in the last minutes: what stands in for the password
    asked again before a sensitive change, for an account that has none (made through that
    site). The auth feature provides it; the composition root hands it to accounts."""

    async def __call__(self, account_id: uuid.UUID, session_key: str) -> bool: ...


async def never_reauthenticated(account_id: uuid.UUID, session_key: str) -> bool:
    """`RecentReauthentication` where no other site is a way in (a feature built alone)."""
    return False


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
    amr: str = ""
    """How the sign-in that began the family was proved: RFC 8176 method values, spaces
    between (`pwd`, `fed`, `otp`, `mfa`, ...). Every access token of the family carries it;
    a rotation never changes it (a refresh never upgrades what the sign-in proved)."""


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


# -- Documents -----------------------------------------------------------------------------


MAX_DOCUMENT_BYTES = 1024 * 1024
"""A document's body, encoded as compact UTF-8 JSON, is at most this long (MongoDB takes
16 MiB; a bound this far below it keeps any one read cheap)."""
MAX_KEY_LENGTH = 255
MAX_OWNER_LENGTH = 128
MAX_COLLECTION_LENGTH = 64
MAX_NESTING = 32
"""Arrays and objects inside each other in a body, at most."""
MAX_LOOKUP_KEYS = 100
"""At most this many lookup keys per document."""
MAX_SCAN_LIMIT = 1000
"""`scan` and `find` return at most this many documents per call."""


class StoredDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One document as a `DocumentStore` holds it."""

    owner: str
    """Whose it is: an account id, say. Every call names the owner, and no call reads or
    changes another owner's documents."""
    collection: str
    """What kind of document it is (`notes`): the owner's documents are kept in named
    collections, each with its own keys."""
    key: str
    """The document's key, unique in its owner's collection."""
    body: dict[str, Any]
    """A JSON object (see `DocumentStore`)."""
    revision: str
    """Opaque, 1 to 64 URL-safe characters (`A-Z a-z 0-9 - _`), so callers can hand it to
    their clients as it is (an HTTP entity tag). A new one at every write, never one the
    same key held before, even after a delete."""
    lookup_keys: tuple[str, ...] = ()
    """Other keys `find` finds the document by, in key order."""


class RevisionConflict(Exception):
    """A conditional write found the document at another revision (or absent, or present,
    when the caller expected otherwise); nothing was written."""


class Absent(enum.Enum):
    ABSENT = "absent"


ABSENT = Absent.ABSENT
"""`expected_revision=ABSENT`: write only if the document does not exist yet."""


class DocumentStore(Protocol):
    """JSON documents owned by someone, in named collections, under string keys: private
    data of a learner (notes, their own resources), kept apart from the relational store so
    that it can live in a document database (MongoDB) as well as in SQL JSON columns.

    Every call is atomic on its own and works on one owner's documents, and a write changes
    one document (with its lookup keys) or none: callers that must keep something true across
    several writes keep it in one document, as MongoDB would, and use `expected_revision`
    for optimistic concurrency (read, change, write back unless someone else wrote first).

    What adapters accept, checked before anything is written (`ValueError` otherwise), so
    that every adapter can hold every document any other one can:

    - owner: 1 to `MAX_OWNER_LENGTH` printable ASCII characters, no spaces.
    - collection: 1 to `MAX_COLLECTION_LENGTH` characters, lower-case letters, digits and
      `-`, starting with a letter.
    - key and lookup keys: 1 to `MAX_KEY_LENGTH` printable ASCII characters (`!` to `~`, so
      no spaces). Key order is character order, the same as byte order, in every adapter
      (SQL: binary collation; MongoDB: its default comparison of strings).
    - body: a JSON object: strings, integers within int64, finite floats, booleans, null,
      arrays and objects, nested at most `MAX_NESTING` deep; field names non-empty, not
      starting with `$`, holding no `.` (MongoDB's rules); no NUL character anywhere
      (PostgreSQL cannot store it); at most `MAX_DOCUMENT_BYTES` as compact UTF-8 JSON.
      It reads back equal to what was written.
    - at most `MAX_LOOKUP_KEYS` lookup keys.
    """

    async def get(self, owner: str, collection: str, key: str) -> StoredDocument | None:
        """The document, or None if there is none."""
        ...

    async def put(
        self,
        owner: str,
        collection: str,
        key: str,
        body: dict[str, Any],
        *,
        expected_revision: str | Absent | None = None,
        lookup_keys: Sequence[str] = (),
    ) -> StoredDocument:
        """Create or replace the document (body and lookup keys alike) and return it, with
        its new revision.

        `expected_revision` makes the write conditional: `ABSENT`, only if there is no such
        document; a revision, only if the document is at that revision now. Otherwise
        `RevisionConflict`, writing nothing. Of N concurrent writes expecting the same state,
        exactly one succeeds. None writes whatever is there.
        """
        ...

    async def delete(
        self, owner: str, collection: str, key: str, *, expected_revision: str | None = None
    ) -> bool:
        """Delete the document; False if there was none (whatever `expected_revision`).
        With `expected_revision`, only if the document is at that revision:
        `RevisionConflict`, deleting nothing, if it is at another one."""
        ...

    async def scan(
        self,
        owner: str,
        collection: str,
        *,
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
    ) -> list[StoredDocument]:
        """The owner's documents of `collection` whose key starts with `prefix`, in key
        order, from the first key after `after` (None: from the start), at most `limit`
        (1 to `MAX_SCAN_LIMIT`). To read them all, pass the last key read as `after` until
        a page comes back short."""
        ...

    async def find(
        self, owner: str, collection: str, lookup_key: str, *, limit: int = 100
    ) -> list[StoredDocument]:
        """The owner's documents of `collection` that hold `lookup_key` among their lookup
        keys, in key order, at most `limit` (1 to `MAX_SCAN_LIMIT`)."""
        ...

    async def delete_owner(self, owner: str) -> int:
        """Delete every document the owner has, in every collection; returns how many.
        Deleting what is already gone changes nothing (so it may be repeated)."""
        ...


# Live channels (fan-out with a replay log per channel) are a port too: `kernel/live.py`.
