"""Presence contract: who is online in a room, each account once however many connections
hold it there, across processes (a second adapter on the same server), lapsing at expiry
unless refreshed, and each expired holder swept by one sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from waymark.infra.redis.presence import RedisPresence
from waymark.infra.sql.database import Database
from waymark.infra.sql.presence import SqlPresence
from waymark.kernel.presence import Presence, Present

T = 1_800_000_000.0
ADA = Present(account_id="a", display_name="Ada")
BOB = Present(account_id="b", display_name="Bob")
CY = Present(account_id="c", display_name="Cy")

MakePresence = Callable[[], Awaitable[Presence]]


async def enter(presence: Presence, holder: str, who: Present, expires_at: float) -> bool:
    return await presence.enter("team:t", holder, who, expires_at=expires_at, now=T)


class PresenceContract:
    async def test_each_account_once_by_name_while_a_holder_is_in(self, presence: Presence) -> None:
        await enter(presence, "h1", BOB, T + 30)
        await enter(presence, "h2", ADA, T + 30)
        await enter(presence, "h3", ADA, T + 30)
        await presence.enter("team:other", "h4", CY, expires_at=T + 30, now=T)
        assert await presence.online("team:t", now=T) == [ADA, BOB]
        await presence.leave("team:t", "h2", "a", now=T)
        assert await presence.online("team:t", now=T) == [ADA, BOB]
        await presence.leave("team:t", "h3", "a", now=T)
        assert await presence.online("team:t", now=T) == [BOB]
        assert await presence.online("team:other", now=T) == [CY]

    async def test_only_the_first_holder_in_and_the_last_out_change_who_is_online(
        self, presence: Presence
    ) -> None:
        assert await enter(presence, "h1", ADA, T + 30) is True
        assert await enter(presence, "h2", ADA, T + 30) is False
        assert await enter(presence, "h1", ADA, T + 40) is False  # entering again
        assert await presence.leave("team:t", "h1", "a", now=T) is False
        assert await presence.leave("team:t", "h2", "a", now=T) is True
        assert await presence.leave("team:t", "h2", "a", now=T) is False  # gone already

    async def test_a_lapsed_holder_counts_for_nothing(self, presence: Presence) -> None:
        await enter(presence, "old", ADA, T - 1)
        assert await enter(presence, "new", ADA, T + 30) is True
        assert await presence.leave("team:t", "old", "a", now=T) is False
        assert await presence.leave("team:t", "new", "a", now=T) is True

    async def test_another_process_sees_the_same_room(self, make: MakePresence) -> None:
        first, second = await make(), await make()
        await enter(first, "h1", ADA, T + 30)
        assert await enter(second, "h2", ADA, T + 30) is False
        await enter(second, "h3", BOB, T + 30)
        assert await second.online("team:t", now=T) == [ADA, BOB]
        assert await second.leave("team:t", "h1", "a", now=T) is False
        assert await first.leave("team:t", "h2", "a", now=T) is True
        assert await first.online("team:t", now=T) == [BOB]

    async def test_a_holder_lapses_at_its_expiry_unless_refreshed(self, presence: Presence) -> None:
        await enter(presence, "h1", ADA, T + 10)
        await enter(presence, "h2", BOB, T + 10)
        missing = await presence.refresh("team:t", ["h2", "never-entered"], expires_at=T + 40)
        assert missing == ["never-entered"]
        assert await presence.online("team:t", now=T + 10) == [BOB]
        assert await presence.online("team:t", now=T + 40) == []

    async def test_refreshing_adds_no_holder_back(self, presence: Presence) -> None:
        await enter(presence, "h1", ADA, T + 10)
        await presence.leave("team:t", "h1", "a", now=T)
        assert await presence.refresh("team:t", ["h1"], expires_at=T + 40) == ["h1"]
        assert await presence.online("team:t", now=T) == []

    async def test_entering_again_moves_the_expiry(self, presence: Presence) -> None:
        await enter(presence, "h1", ADA, T + 10)
        await enter(presence, "h1", ADA, T + 50)
        assert await presence.online("team:t", now=T + 20) == [ADA]

    async def test_expired_holders_are_swept_once_and_their_accounts_told(
        self, make: MakePresence
    ) -> None:
        first, second = await make(), await make()
        for holder in ("h1", "h2"):
            await enter(first, holder, ADA, T + 10)
        await enter(first, "h3", BOB, T + 10)
        await enter(first, "h4", BOB, T + 60)  # Bob stays online through this one
        await enter(first, "h5", CY, T + 60)
        await first.refresh("team:t", ["h5"], expires_at=T + 70)
        swept = await asyncio.gather(
            first.sweep("team:t", now=T + 20), second.sweep("team:t", now=T + 20)
        )
        assert sorted(swept, key=len) == [[], [ADA]]
        assert await first.online("team:t", now=T + 20) == [BOB, CY]
        assert await second.sweep("team:t", now=T + 20) == []
        assert await first.sweep("team:t", now=T + 65) == [BOB]
        assert await second.leave("team:t", "h5", "c", now=T + 65) is True


class TestSqlPresence(PresenceContract):
    @pytest.fixture
    async def make(self, db: Database) -> AsyncIterator[MakePresence]:
        made: list[Database] = []

        async def make() -> SqlPresence:
            database = Database(db.url)
            made.append(database)
            return SqlPresence(database)

        yield make
        for database in made:
            await database.dispose()

    @pytest.fixture
    async def presence(self, make: MakePresence) -> Presence:
        return await make()


class TestRedisPresence(PresenceContract):
    @pytest.fixture
    async def make(self, redis_client: Redis, redis_prefix: str) -> MakePresence:
        async def make() -> RedisPresence:
            return RedisPresence(redis_client, prefix=redis_prefix)

        return make

    @pytest.fixture
    async def presence(self, make: MakePresence) -> Presence:
        return await make()
