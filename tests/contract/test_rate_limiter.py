"""RateLimiter contract: GCRA, exact bursts, atomic across concurrent callers."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from waymark.infra.redis import RedisRateLimiter
from waymark.infra.sql.database import Database
from waymark.infra.sql.rate_limiter import SqlRateLimiter
from waymark.kernel.ports import RateLimiter

T0 = 1_795_000_000.25


class RateLimiterContract:
    async def test_a_burst_allows_exactly_limit_then_denies(self, limiter: RateLimiter) -> None:
        decisions = [await limiter.hit("k", limit=5, period=10, now=T0) for _ in range(5)]
        assert [d.allowed for d in decisions] == [True] * 5
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
        assert [d.reset_after for d in decisions] == pytest.approx([2, 4, 6, 8, 10])
        assert {d.retry_after for d in decisions} == {0.0}
        assert {d.limit for d in decisions} == {5}

        denied = await limiter.hit("k", limit=5, period=10, now=T0)
        assert not denied.allowed
        assert denied.limit == 5
        assert denied.remaining == 0
        assert denied.retry_after == pytest.approx(2)
        assert denied.reset_after == pytest.approx(10)

    @pytest.mark.parametrize(
        ("limit", "period"), [(1, 1.0), (3, 1.0), (7, 60.0), (10, 0.1), (100, 3600.0), (400, 1.0)]
    )
    async def test_bursts_are_exact_whatever_the_ratio(
        self, limiter: RateLimiter, limit: int, period: float
    ) -> None:
        burst = [await limiter.hit("k", limit=limit, period=period, now=T0) for _ in range(limit)]
        assert all(d.allowed for d in burst)
        assert burst[-1].remaining == 0
        denied = await limiter.hit("k", limit=limit, period=period, now=T0)
        assert not denied.allowed
        assert denied.retry_after == pytest.approx(period / limit)

        later = T0 + period / limit
        assert (await limiter.hit("k", limit=limit, period=period, now=later)).allowed
        assert not (await limiter.hit("k", limit=limit, period=period, now=later)).allowed

    async def test_one_hit_comes_back_every_period_over_limit(self, limiter: RateLimiter) -> None:
        for _ in range(5):
            await limiter.hit("k", limit=5, period=10, now=T0)

        early = await limiter.hit("k", limit=5, period=10, now=T0 + 1.5)
        assert not early.allowed
        assert early.retry_after == pytest.approx(0.5)

        back = await limiter.hit("k", limit=5, period=10, now=T0 + 2)
        assert back.allowed
        assert back.remaining == 0
        assert back.reset_after == pytest.approx(10)
        assert not (await limiter.hit("k", limit=5, period=10, now=T0 + 2)).allowed

        two_more = [await limiter.hit("k", limit=5, period=10, now=T0 + 6) for _ in range(3)]
        assert [d.allowed for d in two_more] == [True, True, False]

    async def test_the_whole_limit_is_back_after_the_period(self, limiter: RateLimiter) -> None:
        for _ in range(5):
            await limiter.hit("k", limit=5, period=10, now=T0)
        later = [await limiter.hit("k", limit=5, period=10, now=T0 + 10) for _ in range(6)]
        assert [d.allowed for d in later] == [True] * 5 + [False]
        assert later[0].remaining == 4

    async def test_denied_hits_consume_nothing(self, limiter: RateLimiter) -> None:
        for _ in range(5):
            await limiter.hit("k", limit=5, period=10, now=T0)
        for i in range(50):
            assert not (await limiter.hit("k", limit=5, period=10, now=T0 + i * 0.03)).allowed
        assert (await limiter.hit("k", limit=5, period=10, now=T0 + 2)).allowed

    async def test_cost_counts_several_at_once(self, limiter: RateLimiter) -> None:
        first = await limiter.hit("k", limit=5, period=10, now=T0, cost=3)
        assert first.allowed
        assert first.remaining == 2
        too_much = await limiter.hit("k", limit=5, period=10, now=T0, cost=3)
        assert not too_much.allowed
        assert too_much.remaining == 2
        assert too_much.retry_after == pytest.approx(2)
        assert (await limiter.hit("k", limit=5, period=10, now=T0, cost=2)).allowed
        assert not (await limiter.hit("k", limit=5, period=10, now=T0)).allowed

    async def test_keys_are_independent(self, limiter: RateLimiter) -> None:
        for _ in range(3):
            assert (await limiter.hit("login:ip:203.0.113.7", limit=3, period=60, now=T0)).allowed
        assert not (await limiter.hit("login:ip:203.0.113.7", limit=3, period=60, now=T0)).allowed
        other = await limiter.hit("login:ip:203.0.113.8", limit=3, period=60, now=T0)
        assert other.allowed
        assert other.remaining == 2
        account = await limiter.hit("login:account:ada", limit=3, period=60, now=T0)
        assert account.remaining == 2

    async def test_reset_gives_the_whole_limit_back(self, limiter: RateLimiter) -> None:
        for _ in range(3):
            await limiter.hit("k", limit=3, period=60, now=T0)
        await limiter.reset("k")
        await limiter.reset("never-used")
        assert (await limiter.hit("k", limit=3, period=60, now=T0)).remaining == 2

    async def test_a_clock_behind_gets_nothing_back(self, limiter: RateLimiter) -> None:
        for _ in range(3):
            await limiter.hit("k", limit=3, period=60, now=T0)
        behind = await limiter.hit("k", limit=3, period=60, now=T0 - 30)
        assert not behind.allowed
        assert behind.retry_after == pytest.approx(20)

    @pytest.mark.parametrize(
        ("limit", "period", "cost"),
        [(0, 10.0, 1), (5, 0.0, 1), (5, -1.0, 1), (5, float("nan"), 1), (5, 10.0, 0), (5, 10.0, 6)],
    )
    async def test_impossible_limits_are_refused(
        self, limiter: RateLimiter, limit: int, period: float, cost: int
    ) -> None:
        with pytest.raises(ValueError, match="must be"):
            await limiter.hit("k", limit=limit, period=period, now=T0, cost=cost)

    @pytest.mark.parametrize("warm", [False, True], ids=["new-key", "existing-key"])
    async def test_concurrent_hits_never_exceed_the_limit(
        self, limiter: RateLimiter, warm: bool
    ) -> None:
        # Three rounds: the first opens the pool's connections, the later ones race on warm
        # connections, where a read-then-write that is not atomic shows at once.
        for n in range(3):
            key = f"race-{n}"
            if warm:
                # Used a period ago: the key exists but the whole limit is available again.
                assert (await limiter.hit(key, limit=7, period=60, now=T0 - 60)).allowed
            decisions = await asyncio.gather(
                *(limiter.hit(key, limit=7, period=60, now=T0) for _ in range(20))
            )
            allowed = [d for d in decisions if d.allowed]
            assert len(allowed) == 7
            # Serialised, each allowed hit saw the one before it.
            assert sorted(d.remaining for d in allowed) == list(range(7))
            assert not (await limiter.hit(key, limit=7, period=60, now=T0)).allowed


class TestSqlRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, db: Database) -> SqlRateLimiter:
        return SqlRateLimiter(db)

    async def test_purge_deletes_only_drained_keys(self, limiter: SqlRateLimiter) -> None:
        await limiter.hit("short", limit=10, period=10, now=T0)
        await limiter.hit("long", limit=1, period=100, now=T0)
        assert await limiter.purge_expired(T0 + 50) == 1
        assert not (await limiter.hit("long", limit=1, period=100, now=T0 + 50)).allowed
        assert await limiter.purge_expired(T0 + 100) == 1


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    def limiter(self, redis_client: Redis, redis_prefix: str) -> RedisRateLimiter:
        return RedisRateLimiter(redis_client, prefix=redis_prefix)
