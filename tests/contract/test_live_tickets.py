"""LiveTicketStore contract: a ticket is taken once, by one of any number of concurrent
takers, and not at all once expired; every adapter (SQL, Redis) alike."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from waymark.infra.redis.live_tickets import RedisLiveTickets
from waymark.infra.sql.database import Database
from waymark.infra.sql.live_tickets import SqlLiveTickets
from waymark.kernel.live import LiveTicket, LiveTicketStore

T0 = 1_795_000_000.25


def grant(account: str = "acct-1", lifetime: float = 30) -> LiveTicket:
    return LiveTicket(account_id=account, issued_at=T0, expires_at=T0 + lifetime)


class LiveTicketStoreContract:
    async def test_a_ticket_is_taken_once(self, tickets: LiveTicketStore) -> None:
        await tickets.put("h1", grant())
        assert await tickets.take("h1", now=T0 + 1) == grant()
        assert await tickets.take("h1", now=T0 + 2) is None

    async def test_an_unknown_ticket_is_none(self, tickets: LiveTicketStore) -> None:
        await tickets.put("h1", grant())
        assert await tickets.take("h2", now=T0) is None
        assert await tickets.take("h1", now=T0) == grant()  # another's miss took nothing

    async def test_an_expired_ticket_is_none_and_gone(self, tickets: LiveTicketStore) -> None:
        await tickets.put("h1", grant(lifetime=30))
        assert await tickets.take("h1", now=T0 + 30.001) is None
        assert await tickets.take("h1", now=T0) is None  # not back at an earlier time

    async def test_a_ticket_is_good_up_to_its_expiry(self, tickets: LiveTicketStore) -> None:
        await tickets.put("h1", grant(lifetime=30))
        assert await tickets.take("h1", now=T0 + 30) == grant(lifetime=30)

    async def test_of_concurrent_takers_exactly_one_gets_it(self, tickets: LiveTicketStore) -> None:
        await tickets.put("h1", grant())
        taken = await asyncio.gather(*(tickets.take("h1", now=T0 + 1) for _ in range(8)))
        assert [found for found in taken if found is not None] == [grant()]

    async def test_tickets_are_apart(self, tickets: LiveTicketStore) -> None:
        await tickets.put("h1", grant("acct-1"))
        await tickets.put("h2", grant("acct-2"))
        second = await tickets.take("h2", now=T0)
        assert second is not None
        assert second.account_id == "acct-2"
        first = await tickets.take("h1", now=T0)
        assert first is not None
        assert first.account_id == "acct-1"


class TestSqlLiveTickets(LiveTicketStoreContract):
    @pytest.fixture
    def tickets(self, db: Database) -> SqlLiveTickets:
        return SqlLiveTickets(db)

    async def test_purge_deletes_only_expired_tickets(self, tickets: SqlLiveTickets) -> None:
        await tickets.put("short", grant(lifetime=10))
        await tickets.put("long", grant(lifetime=30))
        assert await tickets.purge_expired(T0 + 11) == 1
        assert await tickets.take("long", now=T0 + 11) is not None


class TestRedisLiveTickets(LiveTicketStoreContract):
    @pytest.fixture
    def tickets(self, redis_client: Redis, redis_prefix: str) -> RedisLiveTickets:
        return RedisLiveTickets(redis_client, prefix=redis_prefix)

    async def test_a_ticket_expires_by_itself_a_minute_after_its_end(
        self, tickets: RedisLiveTickets, redis_client: Redis, redis_prefix: str
    ) -> None:
        await tickets.put("h1", grant(lifetime=30))
        key = f"{redis_prefix}lt:h1"
        assert 30_000 + 59_000 < await redis_client.pttl(key) <= 30_000 + 60_000
