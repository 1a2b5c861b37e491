"""argon2id hashing: OWASP parameters, verification, the dummy path, rehash, concurrency cap."""

from __future__ import annotations

import asyncio
import threading
import unicodedata
from typing import Any, cast

import argon2
import pytest

from waymark.infra.security.passwords import (
    MAX_PASSWORD_BYTES,
    Argon2Parameters,
    PasswordHasher,
)

CHEAP = Argon2Parameters(memory_cost=1024, time_cost=1)


class CountingArgon2(argon2.PasswordHasher):
    """The real argon2-cffi hasher, recording each call into it and how many overlap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.verified: list[str] = []
        self.hashes = 0
        self.in_flight = 0
        self.peak = 0
        self.threads: set[int] = set()

    def _enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.threads.add(threading.get_ident())

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._enter()
        try:
            self.hashes += 1
            return super().hash(password, salt=salt)
        finally:
            self._leave()

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:
        self._enter()
        try:
            self.verified.append(hash if isinstance(hash, str) else hash.decode())
            return super().verify(hash, password)
        finally:
            self._leave()


class InstrumentedHasher(PasswordHasher):
    engine_class = CountingArgon2

    @property
    def engine(self) -> CountingArgon2:
        return cast(CountingArgon2, self._engine)


@pytest.fixture(scope="module")
def owasp() -> PasswordHasher:
    return PasswordHasher()


async def test_hash_is_an_argon2id_phc_string_with_the_owasp_parameters(
    owasp: PasswordHasher,
) -> None:
    hashed = await owasp.hash("correct horse battery staple")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    salt, digest = hashed.split("$")[4:]
    assert len(salt) == 22  # 16 bytes, unpadded base64
    assert len(digest) == 43  # 32 bytes
    assert hashed != await owasp.hash("correct horse battery staple")  # fresh salt


async def test_verify_accepts_the_password_and_refuses_anything_else(
    owasp: PasswordHasher,
) -> None:
    hashed = await owasp.hash("correct horse battery staple")
    assert await owasp.verify(hashed, "correct horse battery staple") is True
    assert await owasp.verify(hashed, "correct horse battery stapler") is False
    assert await owasp.verify(hashed, "Correct horse battery staple") is False
    assert await owasp.verify(hashed, "") is False


async def test_nothing_is_truncated() -> None:
    hasher = PasswordHasher(CHEAP)
    first, second = "a" * 199 + "b", "a" * 199 + "c"
    hashed = await hasher.hash(first)
    assert await hasher.verify(hashed, first)
    assert not await hasher.verify(hashed, second)
    longest = "é" * (MAX_PASSWORD_BYTES // 2)
    hashed = await hasher.hash(longest)
    assert not await hasher.verify(hashed, longest[:-1] + "e")


async def test_composed_and_decomposed_spellings_are_the_same_password() -> None:
    hasher = PasswordHasher(CHEAP)
    composed = unicodedata.normalize("NFC", "crème brûlée au café")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert await hasher.verify(await hasher.hash(decomposed), composed)


async def test_oversized_passwords_are_refused_without_hashing() -> None:
    hasher = InstrumentedHasher(CHEAP)
    hashed = await hasher.hash("x" * MAX_PASSWORD_BYTES)
    with pytest.raises(ValueError, match="longer than"):
        await hasher.hash("x" * (MAX_PASSWORD_BYTES + 1))
    assert await hasher.verify(hashed, "x" * (MAX_PASSWORD_BYTES + 1)) is False
    assert hasher.engine.verified == []


async def test_an_unparseable_stored_hash_fails_closed() -> None:
    hasher = PasswordHasher(CHEAP)
    assert await hasher.verify("not a hash", "password") is False
    assert await hasher.verify("$argon2id$v=19$m=1024,t=1,p=1$broken", "password") is False
    assert hasher.needs_rehash("not a hash")


async def test_dummy_verification_runs_one_real_verify_against_a_current_hash() -> None:
    hasher = InstrumentedHasher()
    hashed = await hasher.hash("correct horse battery staple")
    hasher.engine.verified.clear()

    assert await hasher.verify_dummy("correct horse battery staple") is False
    assert await hasher.verify(hashed, "correct horse battery staple") is True

    dummy, real = hasher.engine.verified
    # The unknown-account path did the same call as the known one, on a hash with the same
    # parameters, so it costs the same.
    assert dummy.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert dummy.split("$")[:4] == real.split("$")[:4]
    # One dummy hash per instance, made at construction: no hashing on the dummy path.
    await hasher.verify_dummy("another guess")
    assert hasher.engine.verified[-1] == dummy
    assert hasher.engine.hashes == 2  # the dummy (constructor) and `hashed`


async def test_rehash_is_needed_exactly_when_the_parameters_rose() -> None:
    old = PasswordHasher(CHEAP)
    new = PasswordHasher(Argon2Parameters(memory_cost=2048, time_cost=2))
    legacy = await old.hash("correct horse battery staple")

    assert not old.needs_rehash(legacy)
    assert new.needs_rehash(legacy)
    assert await new.verify(legacy, "correct horse battery staple")  # old hashes still log in
    assert not new.needs_rehash(await new.hash("correct horse battery staple"))


@pytest.mark.parametrize("cap", [1, 2])
async def test_concurrent_hashes_never_exceed_the_cap(cap: int) -> None:
    hasher = InstrumentedHasher(max_concurrency=cap)
    hashed = await hasher.hash("correct horse battery staple")
    hasher.engine.threads.clear()  # the constructor made the dummy hash on this thread
    results = await asyncio.gather(
        *(hasher.verify(hashed, f"guess {i}") for i in range(6)),
        hasher.verify_dummy("guess"),
        hasher.hash("another password"),
    )
    assert results[:7] == [False] * 7
    assert hasher.engine.peak == cap
    # Every hash ran on a worker thread, never on the event loop's.
    assert threading.get_ident() not in hasher.engine.threads


async def test_the_instrument_sees_overlap_when_the_cap_allows_it() -> None:
    """Control for the test above: with a high cap, the same load does overlap."""
    hasher = InstrumentedHasher(max_concurrency=8)
    hashed = await hasher.hash("correct horse battery staple")
    await asyncio.gather(*(hasher.verify(hashed, f"guess {i}") for i in range(8)))
    assert hasher.engine.peak > 2


async def test_the_event_loop_keeps_running_while_hashes_queue() -> None:
    hasher = PasswordHasher(max_concurrency=1)
    hashed = await hasher.hash("correct horse battery staple")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(hasher.verify(hashed, "guess") for _ in range(4)))
    task.cancel()
    assert ticks > 4  # the loop ran other work while four hashes queued and ran


def test_invalid_concurrency_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        PasswordHasher(CHEAP, max_concurrency=0)
