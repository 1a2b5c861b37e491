"""Password hashing: argon2id at the OWASP parameters (ASVS 11.4.2).

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
import secrets
import unicodedata
from collections.abc import Callable
from typing import ClassVar, Literal, TypeVar

import argon2
import msgspec
import structlog
from argon2.exceptions import InvalidHashError, VerificationError

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
        answer takes as long as when there is one (docs/security.md: same answer, same work).
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
