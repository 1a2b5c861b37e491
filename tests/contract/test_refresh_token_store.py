"""RefreshTokenStore contract: rotation, the concurrent-refresh race, reuse detection, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

import msgspec
import pytest
from redis.asyncio import Redis

from waymark.infra.redis import RedisRefreshTokenStore
from waymark.infra.redis.pipelined import PipelinedRedis
from waymark.infra.sql.database import Database
from waymark.infra.sql.refresh_tokens import SqlRefreshTokenStore
from waymark.kernel.ports import Invalid, RefreshFamily, Reused, Rotated
from waymark.kernel.ports import RefreshTokenStore as PortRefreshTokenStore

T0 = 1_795_000_000.25
IDLE = 14 * 86400.0
ABSOLUTE = 30 * 86400.0
GRACE = 10.0


class RefreshTokenStore(PortRefreshTokenStore, Protocol):
    """The port, as both adapters offer it."""


def family(
    family_id: str = "fam-1",
    *,
    user_id: str = "user-1",
    current: str | None = None,
    at: float = T0,
    idle: float = IDLE,
    absolute: float = ABSOLUTE,
) -> RefreshFamily:
    return RefreshFamily(
        id=family_id,
        user_id=user_id,
        created_at=at,
        last_used_at=at,
        idle_timeout=idle,
        absolute_expires_at=at + absolute,
        current_hash=current or f"hash-{family_id}-0",
        ip="198.51.100.20",
        user_agent="waymark-cli/1.0",
    )


async def rotate(
    store: RefreshTokenStore, token: str, successor: str, *, now: float, grace: float = GRACE
) -> Rotated | Reused | Invalid:
    """Rotate the token whose hash is `hash-{token}` to `successor` (hash `hash-{successor}`)."""
    return await store.rotate(
        f"hash-{token}",
        successor=successor,
        successor_hash=f"hash-{successor}",
        now=now,
        grace=grace,
    )


class RefreshTokenStoreContract:
    async def test_a_chain_of_rotations(self, tokens: RefreshTokenStore) -> None:
        created = family(current="hash-t0")
        await tokens.create_family(created)
        for step in range(1, 4):
            result = await rotate(tokens, f"t{step - 1}", f"t{step}", now=T0 + step * 60)
            assert isinstance(result, Rotated)
            assert result.token == f"t{step}"
            assert result.family.id == "fam-1"
            assert result.family.current_hash == f"hash-t{step}"
            assert result.family.last_used_at == T0 + step * 60
            assert result.family.created_at == T0
            assert result.family.user_id == "user-1"
            assert result.family.ip == created.ip
            assert result.family.user_agent == created.user_agent
        (listed,) = await tokens.list_for_user("user-1", now=T0 + 200)
        assert listed.current_hash == "hash-t3"
        assert listed.last_used_at == T0 + 180

    async def test_how_the_sign_in_was_proved_is_kept_through_rotations(
        self, tokens: RefreshTokenStore
    ) -> None:
        """A family's `amr` is what its sign-in proved; a rotation never changes it."""
        await tokens.create_family(
            msgspec.structs.replace(family(current="hash-t0"), amr="pwd otp mfa")
        )
        await tokens.create_family(family("fam-2", current="hash-u0"))
        rotated = await rotate(tokens, "t0", "t1", now=T0 + 60)
        assert isinstance(rotated, Rotated)
        assert rotated.family.amr == "pwd otp mfa"
        plain = await rotate(tokens, "u0", "u1", now=T0 + 60)
        assert isinstance(plain, Rotated)
        assert plain.family.amr == ""
        listed = {f.id: f.amr for f in await tokens.list_for_user("user-1", now=T0 + 120)}
        assert listed == {"fam-1": "pwd otp mfa", "fam-2": ""}

    async def test_a_repeat_within_grace_gets_the_same_successor(
        self, tokens: RefreshTokenStore
    ) -> None:
        await tokens.create_family(family(current="hash-t0"))
        first = await rotate(tokens, "t0", "t1", now=T0)
        again = await rotate(tokens, "t0", "t1-other", now=T0 + GRACE - 0.5)
        assert isinstance(first, Rotated)
        assert isinstance(again, Rotated)
        assert again.token == "t1"
        assert again.family.current_hash == "hash-t1"
        # The candidate offered by the repeat was never installed.
        assert await rotate(tokens, "t1-other", "x", now=T0 + 1) == Invalid("unknown")
        assert isinstance(await rotate(tokens, "t1", "t2", now=T0 + 2), Rotated)

    # Three rounds: the first opens the pool's connections, the later ones race on warm
    # connections, where a read-then-write that is not atomic shows at once.
    async def test_concurrent_refreshes_yield_exactly_one_successor(
        self, tokens: RefreshTokenStore
    ) -> None:
        for n in range(3):
            await tokens.create_family(family(f"fam-{n}", current=f"hash-r{n}"))
            results = await asyncio.gather(
                *(rotate(tokens, f"r{n}", f"candidate-{n}-{i}", now=T0 + 5) for i in range(20))
            )
            assert all(isinstance(r, Rotated) for r in results), results
            successors = {r.token for r in results if isinstance(r, Rotated)}
            assert len(successors) == 1, successors
            (winner,) = successors
            listed = {f.id: f for f in await tokens.list_for_user("user-1", now=T0 + 6)}
            assert listed[f"fam-{n}"].current_hash == f"hash-{winner}"
            assert isinstance(await rotate(tokens, winner, f"next-{n}", now=T0 + 6), Rotated)

    async def test_concurrent_refreshes_without_grace_let_exactly_one_through(
        self, tokens: RefreshTokenStore
    ) -> None:
        for n in range(3):
            await tokens.create_family(family(f"fam-{n}", current=f"hash-r{n}"))
            results = await asyncio.gather(
                *(
                    rotate(tokens, f"r{n}", f"candidate-{n}-{i}", now=T0 + 5, grace=0)
                    for i in range(20)
                )
            )
            assert sum(isinstance(r, Rotated) for r in results) == 1, results
            assert sum(isinstance(r, Reused) for r in results) == 1, results
            assert all(r == Invalid("revoked") for r in results if isinstance(r, Invalid))

    async def test_a_replay_after_grace_revokes_the_family(self, tokens: RefreshTokenStore) -> None:
        await tokens.create_family(family(current="hash-t0"))
        await tokens.create_family(family("fam-2", current="hash-u0"))
        await rotate(tokens, "t0", "t1", now=T0)
        await rotate(tokens, "t1", "t2", now=T0 + 60)

        replay = await rotate(tokens, "t0", "evil", now=T0 + GRACE)
        assert replay == Reused(family_id="fam-1", user_id="user-1")

        current = await rotate(tokens, "t2", "t3", now=T0 + 61)
        assert isinstance(current, Invalid)
        assert current.reason in ("revoked", "unknown")
        assert await rotate(tokens, "evil", "x", now=T0 + 61) == Invalid("unknown")
        assert [f.id for f in await tokens.list_for_user("user-1", now=T0 + 61)] == ["fam-2"]
        assert isinstance(await rotate(tokens, "u0", "u1", now=T0 + 61), Rotated)
        # The revoked family stays revoked, whichever of its tokens comes back.
        assert await rotate(tokens, "t1", "y", now=T0 + 62) == Invalid("revoked")
        assert await rotate(tokens, "t0", "y", now=T0 + 62) == Invalid("revoked")

    async def test_the_idle_timeout_ends_a_family(self, tokens: RefreshTokenStore) -> None:
        await tokens.create_family(family(current="hash-t0", idle=100))
        assert isinstance(await rotate(tokens, "t0", "t1", now=T0 + 99), Rotated)
        assert isinstance(await rotate(tokens, "t1", "t2", now=T0 + 199), Rotated)
        assert await rotate(tokens, "t2", "t3", now=T0 + 299.5) == Invalid("expired")
        assert await tokens.list_for_user("user-1", now=T0 + 299.5) == []
        late = await rotate(tokens, "t2", "t3", now=T0 + 300)
        assert isinstance(late, Invalid)

    async def test_the_absolute_timeout_ends_an_active_family(
        self, tokens: RefreshTokenStore
    ) -> None:
        await tokens.create_family(family(current="hash-t0", idle=100, absolute=250))
        for step, now in enumerate((T0 + 90, T0 + 180, T0 + 250), start=1):
            result = await rotate(tokens, f"t{step - 1}", f"t{step}", now=now)
            assert isinstance(result, Rotated), result
        assert await rotate(tokens, "t3", "t4", now=T0 + 250.5) == Invalid("expired")

    async def test_unknown_tokens_are_invalid(self, tokens: RefreshTokenStore) -> None:
        assert await rotate(tokens, "nobody", "x", now=T0) == Invalid("unknown")

    async def test_revoke_family(self, tokens: RefreshTokenStore) -> None:
        await tokens.create_family(family(current="hash-t0"))
        await rotate(tokens, "t0", "t1", now=T0)
        assert await tokens.revoke_family("fam-1") is True
        assert await tokens.revoke_family("fam-1") is False
        assert await tokens.revoke_family("no-such-family") is False
        assert await rotate(tokens, "t1", "t2", now=T0 + 1) == Invalid("revoked")
        # Not even the grace window hands out tokens of a revoked family.
        assert await rotate(tokens, "t0", "t2", now=T0 + 1) == Invalid("revoked")
        assert await tokens.list_for_user("user-1", now=T0 + 1) == []

    async def test_list_shows_live_families_most_recently_used_first(
        self, tokens: RefreshTokenStore
    ) -> None:
        await tokens.create_family(family("laptop", current="hash-l0", at=T0))
        await tokens.create_family(family("phone", current="hash-p0", at=T0 + 1))
        await tokens.create_family(family("tablet", current="hash-b0", at=T0 + 2, idle=50))
        await tokens.create_family(family("revoked", current="hash-r0", at=T0 + 3))
        await tokens.create_family(family("theirs", user_id="user-2", current="hash-z0"))
        await tokens.revoke_family("revoked")
        await rotate(tokens, "l0", "l1", now=T0 + 30)

        listed = await tokens.list_for_user("user-1", now=T0 + 60)
        assert [f.id for f in listed] == ["laptop", "phone"]
        assert listed[1] == family("phone", current="hash-p0", at=T0 + 1)
        assert [f.id for f in await tokens.list_for_user("user-2", now=T0 + 60)] == ["theirs"]

    async def test_revoke_user_keeps_the_current_family(self, tokens: RefreshTokenStore) -> None:
        for name in ("a", "b", "c"):
            await tokens.create_family(family(name, current=f"hash-{name}0"))
        await tokens.create_family(family("theirs", user_id="user-2", current="hash-z0"))
        await tokens.revoke_family("c")

        assert await tokens.revoke_user("user-1", keep="b") == 1
        assert [f.id for f in await tokens.list_for_user("user-1", now=T0 + 1)] == ["b"]
        assert await rotate(tokens, "a0", "a1", now=T0 + 1) == Invalid("revoked")
        assert isinstance(await rotate(tokens, "b0", "b1", now=T0 + 1), Rotated)
        assert isinstance(await rotate(tokens, "z0", "z1", now=T0 + 1), Rotated)

        assert await tokens.revoke_user("user-1") == 1
        assert await rotate(tokens, "b1", "b2", now=T0 + 2) == Invalid("revoked")
        assert await tokens.revoke_user("user-1") == 0

    async def test_is_live_follows_rotation_revocation_and_expiry(
        self, tokens: RefreshTokenStore
    ) -> None:
        await tokens.create_family(family(current="hash-t0", idle=100))
        await tokens.create_family(family("fam-2", current="hash-u0"))
        assert await tokens.is_live("fam-1", user_id="user-1", now=T0 + 100)
        assert not await tokens.is_live("fam-1", user_id="user-1", now=T0 + 100.5)
        await rotate(tokens, "t0", "t1", now=T0 + 90)
        assert await tokens.is_live("fam-1", user_id="user-1", now=T0 + 190)
        assert not await tokens.is_live("nope", user_id="user-1", now=T0)
        await tokens.revoke_family("fam-2")
        assert not await tokens.is_live("fam-2", user_id="user-1", now=T0)
        await rotate(tokens, "t0", "t2", now=T0 + 150)  # replayed after grace
        assert not await tokens.is_live("fam-1", user_id="user-1", now=T0 + 150)

    async def test_a_family_is_live_only_for_its_own_user(self, tokens: RefreshTokenStore) -> None:
        await tokens.create_family(family(user_id="user-1", current="hash-t0"))
        assert await tokens.is_live("fam-1", user_id="user-1", now=T0)
        assert not await tokens.is_live("fam-1", user_id="user-2", now=T0)
        assert not await tokens.is_live("fam-1", user_id="", now=T0)


class TestSqlRefreshTokenStore(RefreshTokenStoreContract):
    @pytest.fixture
    def tokens(self, db: Database) -> SqlRefreshTokenStore:
        return SqlRefreshTokenStore(db)

    async def test_purge_deletes_dead_families_and_clears_successors(
        self, tokens: SqlRefreshTokenStore, db: Database
    ) -> None:
        from sqlalchemy import func, select

        from waymark.infra.sql.ephemeral_tables import ephemeral_refresh_rotations as rotations

        await tokens.create_family(family(current="hash-t0"))
        await tokens.create_family(family("short", current="hash-s0", idle=10))
        await rotate(tokens, "t0", "t1", now=T0)
        await rotate(tokens, "s0", "s1", now=T0)

        assert await tokens.purge_expired(T0 + GRACE) == 0
        assert await tokens.purge_expired(T0 + 20.5) == 1
        async with db.read() as conn:
            kept = await conn.execute(
                select(rotations.c.token_hash, rotations.c.successor).order_by("token_hash")
            )
            assert kept.all() == [("hash-t0", None)]
            count = await conn.scalar(select(func.count()).select_from(rotations))
            assert count == 1
        # The cleared successor no longer comes back, but the replay is still recognised.
        assert await rotate(tokens, "t0", "x", now=T0 + 21) == Reused(
            family_id="fam-1", user_id="user-1"
        )


class TestRedisRefreshTokenStore(RefreshTokenStoreContract):
    """With the lean pipelined reader for `is_live`, as production runs it."""

    @pytest.fixture
    async def tokens(
        self, redis_client: Redis, redis_prefix: str, redis_url: str
    ) -> AsyncIterator[RedisRefreshTokenStore]:
        reads = PipelinedRedis(redis_url, timeout=2, connect_timeout=2)
        yield RedisRefreshTokenStore(redis_client, prefix=redis_prefix, reads=reads)
        await reads.aclose()


class TestRedisRefreshTokenStoreWithRedisPyOnly(RefreshTokenStoreContract):
    """Without it: the two read the same answers from the same Redis."""

    @pytest.fixture
    def tokens(self, redis_client: Redis, redis_prefix: str) -> RedisRefreshTokenStore:
        return RedisRefreshTokenStore(redis_client, prefix=redis_prefix)
