"""Password hashing (argon2id, OWASP parameters) and the password policy (ASVS 6.2, 11.4.2).

Hashing costs ~20 ms of CPU and 19 MiB of memory on purpose. It runs in worker threads (the
argon2 C code releases the GIL) behind a semaphore, so a flood of logins queues up instead of
blocking the event loop or exhausting memory: at most `max_concurrency` hashes run at once
per process, whatever the number of requests.

Passwords are NFC-normalised before hashing and before counting their length, so the same
password typed on macOS (which produces NFD) and on Windows (NFC) is the same password.
Changing that normalisation later would lock out every user whose password it changes.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import unicodedata
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import ClassVar, Literal, TypeVar

import argon2
import msgspec
import structlog
from argon2.exceptions import InvalidHashError, VerificationError

from waymark.kernel.errors import FieldError

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

MAX_PASSWORD_BYTES = 4096
"""The hasher refuses more: bounds the work one request can ask for. The policy's 1024 code
points are at most 4096 bytes of UTF-8, so no password the policy accepts is refused here."""


class Argon2Parameters(msgspec.Struct, frozen=True, kw_only=True):
    """argon2id cost; the defaults are the OWASP minimum (19 MiB, 2 passes, 1 lane)."""

    memory_cost: int = 19_456
    """KiB."""
    time_cost: int = 2
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


def _encode(password: str) -> bytes:
    return unicodedata.normalize("NFC", password).encode("utf-8")


class PasswordHasher:
    """argon2id PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$...`), computed off the loop.

    One instance per process (the composition root owns it): the semaphore only bounds the
    calls that share it.
    """

    engine_class: ClassVar[type[argon2.PasswordHasher]] = argon2.PasswordHasher
    """The argon2-cffi class doing the work; tests substitute an instrumented subclass."""

    def __init__(
        self, parameters: Argon2Parameters | None = None, *, max_concurrency: int = 2
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.parameters = parameters or Argon2Parameters()
        self.max_concurrency = max_concurrency
        self._engine = self.engine_class(
            time_cost=self.parameters.time_cost,
            memory_cost=self.parameters.memory_cost,
            parallelism=self.parameters.parallelism,
            hash_len=self.parameters.hash_len,
            salt_len=self.parameters.salt_len,
            type=argon2.Type.ID,
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        # A hash of a random password nobody knows, with today's parameters: verifying against
        # it costs what verifying a real account costs, and can never succeed. Computed here,
        # once, so the first unknown-account login is no slower than the next.
        self._dummy_hash = self._engine.hash(secrets.token_bytes(32))

    async def hash(self, password: str) -> str:
        """A new PHC string for `password`, with a fresh random salt."""
        secret = _encode(password)
        if len(secret) > MAX_PASSWORD_BYTES:
            raise ValueError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
        return await self._run(self._engine.hash, secret)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches the stored PHC string; never raises on a mismatch.

        A stored hash that cannot be parsed counts as a mismatch (and is logged), so a
        corrupted row fails closed instead of answering 500.
        """
        secret = _encode(password)
        if len(secret) > MAX_PASSWORD_BYTES:
            return False
        try:
            return await self._run(self._engine.verify, password_hash, secret)
        except InvalidHashError:
            log.warning("password_hash_unparseable")
            return False
        except VerificationError:  # includes VerifyMismatchError
            return False

    async def verify_dummy(self, password: str) -> Literal[False]:
        """Do the work of `verify` for an account that does not exist, and fail.

        Login, registration and password reset call this when there is no account, so their
        answer takes as long as when there is one (SECURITY.md: same status, body and timing).
        """
        await self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a hash that just verified was made with other parameters than today's.

        Call it after a successful login and store `await hash(password)` when it is true:
        that is how raised parameters reach existing accounts. Cheap: parses the PHC string.
        """
        try:
            return self._engine.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        async with self._slots:
            return await asyncio.to_thread(work, *args)


# -- Policy -----------------------------------------------------------------------------------


def shipped_common_passwords() -> Traversable:
    """The list of common passwords packaged with Waymark."""
    return resources.files("waymark.features.accounts") / "data" / "common-passwords.txt"


class PasswordPolicy:
    """What a new password must be: NIST SP 800-63B / ASVS 6.2, not composition rules.

    8 to `max_length` code points (after NFC; nothing is ever truncated), not one of the
    shipped common passwords, not the account's email or its local part. Upper case, digits
    and symbols are never demanded: they make passwords harder to remember, not to guess.
    """

    def __init__(
        self,
        *,
        min_length: int = 8,
        max_length: int = 1024,
        common_passwords: Traversable | None = None,
    ) -> None:
        if not 8 <= min_length <= 64 <= max_length <= 1024:
            raise ValueError("need 8 <= min_length <= 64 <= max_length <= 1024")
        self.min_length = min_length
        self.max_length = max_length
        self._source = common_passwords or shipped_common_passwords()
        self._common: frozenset[str] | None = None

    @property
    def common_passwords(self) -> frozenset[str]:
        """The list, read on first use (not at import or construction) and kept."""
        if self._common is None:
            text = self._source.read_text(encoding="utf-8")
            self._common = frozenset(
                _fold(line.strip())
                for line in text.splitlines()
                if line.strip() and not line.startswith("#")
            )
        return self._common

    def check(self, password: str, *, email: str | None = None) -> list[FieldError]:
        """Every reason `password` is refused, as errors on the field `password`; [] if fine."""
        normalised = unicodedata.normalize("NFC", password)
        length = len(normalised)
        problems: list[str] = []
        if length < self.min_length:
            problems.append(f"must be at least {self.min_length} characters")
        elif length > self.max_length:
            problems.append(f"must be at most {self.max_length} characters")
        folded = _fold(normalised)
        if folded in self.common_passwords:
            problems.append("is too common: it appears in lists of leaked passwords")
        if email and _is_email_derived(folded, _fold(email.strip())):
            problems.append("must not be your email address")
        return [FieldError("password", message) for message in problems]


@functools.cache
def default_password_policy() -> PasswordPolicy:
    """The policy with default limits and the shipped list, built on first use and kept."""
    return PasswordPolicy()


def check_password_policy(
    password: str, *, email: str | None, policy: PasswordPolicy | None = None
) -> list[FieldError]:
    """`PasswordPolicy.check`, with `default_password_policy()` unless a policy is given."""
    return (policy or default_password_policy()).check(password, email=email)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _is_email_derived(password: str, email: str) -> bool:
    local = email.rpartition("@")[0] or email
    if password in (email, local):
        return True
    # "alice.smith2024!" for alice.smith@...: the local part plus digits or symbols only.
    rest = password.removeprefix(local)
    return len(local) >= 4 and rest != password and not any(ch.isalpha() for ch in rest)
