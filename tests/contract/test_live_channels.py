"""LiveChannels contract: order per channel, dedupe, replay after an id, too far behind,
several subscribers, delivery across processes, slow consumers cut off, unsubscribing.

"Another process" is a second adapter on the same database or Redis: it shares nothing
with the first but the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from waymark.infra.redis.live import RedisLiveChannels
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.kernel.live import RESYNC, CloseReason, LiveChannels, LiveEvent, LiveSubscription

LOG = 20
WAIT = 5.0

MakeLive = Callable[[], Awaitable[LiveChannels]]


async def take(subscription: LiveSubscription, n: int) -> list[LiveEvent]:
    events = []
    for _ in range(n):
        event = await subscription.next(WAIT)
        assert event is not None, f"only {len(events)} of {n} events arrived: {events}"
        events.append(event)
    return events


async def nothing_more(subscription: LiveSubscription) -> None:
    assert await subscription.next(0.3) is None


async def publish_n(live: LiveChannels, channel: str, n: int, start: int = 0) -> list[str]:
    return [
        await live.publish(channel, "tick", {"n": i}, dedupe_key=f"k{i}")
        for i in range(start, start + n)
    ]


class LiveChannelsContract:
    async def test_events_arrive_once_in_order_to_every_subscriber(
        self, live: LiveChannels
    ) -> None:
        first, second = live.subscribe(), live.subscribe()
        await first.add("user:a")
        await second.add("user:a")
        await second.add("team:t")
        ids = await publish_n(live, "user:a", 5)
        await live.publish("team:t", "other", {"x": 1}, dedupe_key="t1")
        got = await take(first, 5)
        assert [e.data["n"] for e in got] == [0, 1, 2, 3, 4]
        assert [e.id for e in got] == ids
        assert {e.channel for e in got} == {"user:a"}
        await nothing_more(first)
        got = await take(second, 6)
        assert [e.kind for e in got] == ["tick"] * 5 + ["other"]
        assert got[-1] == LiveEvent(channel="team:t", id=got[-1].id, kind="other", data={"x": 1})
        await first.aclose()
        await second.aclose()

    async def test_ids_increase_per_channel(self, live: LiveChannels) -> None:
        ids = await publish_n(live, "user:a", 3)
        assert len(set(ids)) == 3
        replayed = await live.replay("user:a", "")
        assert replayed is not None
        assert [e.id for e in replayed] == ids

    async def test_a_retried_publish_delivers_nothing_new(self, live: LiveChannels) -> None:
        subscription = live.subscribe()
        await subscription.add("user:a")
        once = await live.publish("user:a", "tick", {"n": 1}, dedupe_key="message-1")
        again = await live.publish("user:a", "tick", {"n": 1}, dedupe_key="message-1")
        assert once == again
        # The same key on another channel is another event.
        await live.publish("user:b", "tick", {"n": 1}, dedupe_key="message-1")
        assert [e.id for e in await take(subscription, 1)] == [once]
        await nothing_more(subscription)
        assert [e.id for e in await live.replay("user:a", "") or []] == [once]
        await subscription.aclose()

    async def test_what_was_published_is_remembered(self, live: LiveChannels) -> None:
        assert not await live.published("user:a", "k0")
        await publish_n(live, "user:a", 1)
        assert await live.published("user:a", "k0")
        assert not await live.published("user:b", "k0")

    async def test_replay_gives_the_events_after_an_id(self, live: LiveChannels) -> None:
        ids = await publish_n(live, "user:a", 5)
        await publish_n(live, "user:b", 2)
        after = await live.replay("user:a", ids[1])
        assert after is not None
        assert [e.id for e in after] == ids[2:]
        assert await live.replay("user:a", ids[-1]) == []
        assert await live.replay("user:quiet", "") == []

    async def test_too_far_behind_or_unknown_is_said_so(self, live: LiveChannels) -> None:
        ids = await publish_n(live, "user:a", LOG * 15)
        assert await live.replay("user:a", ids[0]) is None
        assert await live.replay("user:a", "") is None
        assert await live.replay("user:a", "not-an-id") is None
        # An id this channel has not reached (another server's, a forged one).
        assert await live.replay("user:quiet", ids[-1]) is None
        recent = await live.replay("user:a", ids[-LOG])
        assert recent is not None
        assert [e.id for e in recent] == ids[-LOG + 1 :]

    async def test_a_subscriber_resumes_after_an_id_then_follows_live(
        self, live: LiveChannels
    ) -> None:
        ids = await publish_n(live, "user:a", 4)
        subscription = live.subscribe()
        assert await subscription.add("user:a", after=ids[1]) == ids[1]
        later = await publish_n(live, "user:a", 2, start=4)
        got = await take(subscription, 4)
        assert [e.id for e in got] == ids[2:] + later
        await nothing_more(subscription)
        await subscription.aclose()

    async def test_a_subscriber_too_far_behind_is_told_to_refetch(self, live: LiveChannels) -> None:
        ids = await publish_n(live, "user:a", LOG * 15)
        subscription = live.subscribe()
        await subscription.add("user:a", after=ids[0])
        (resync,) = await take(subscription, 1)
        assert (resync.channel, resync.kind, resync.id) == ("user:a", RESYNC, ids[-1])
        (new,) = await publish_n(live, "user:a", 1, start=10_000)
        assert [e.id for e in await take(subscription, 1)] == [new]
        await subscription.aclose()

    async def test_without_an_id_a_subscriber_follows_from_now(self, live: LiveChannels) -> None:
        ids = await publish_n(live, "user:a", 2)
        subscription = live.subscribe()
        assert await subscription.add("user:a") == ids[-1]
        assert await subscription.add("user:empty") == ""
        (new,) = await publish_n(live, "user:empty", 1, start=5)
        assert [e.id for e in await take(subscription, 1)] == [new]
        await subscription.aclose()

    async def test_events_reach_subscribers_of_another_process(
        self, live: LiveChannels, make_live: MakeLive
    ) -> None:
        other = await make_live()
        subscription = other.subscribe()
        await subscription.add("team:t")
        ids = await publish_n(live, "team:t", 3)
        assert [e.id for e in await take(subscription, 3)] == ids
        await subscription.aclose()

    async def test_a_slow_consumer_is_cut_off_and_others_are_not(self, live: LiveChannels) -> None:
        slow, quick = live.subscribe(queue_size=3), live.subscribe(queue_size=100)
        await slow.add("team:t")
        await quick.add("team:t")
        ids = await publish_n(live, "team:t", 8)
        assert [e.id for e in await take(quick, 8)] == ids
        for _ in range(50):  # the events reach the slow one when the quick one has them
            if slow.closed_reason is not None:
                break
            await asyncio.sleep(0.02)
        assert slow.closed_reason == CloseReason.SLOW_CONSUMER
        assert slow.channels == frozenset()
        with pytest.raises(StopAsyncIteration):
            await slow.next(0.1)
        await quick.aclose()

    async def test_removing_a_channel_stops_its_delivery(self, live: LiveChannels) -> None:
        subscription = live.subscribe()
        await subscription.add("team:t")
        await subscription.add("user:a")
        await publish_n(live, "team:t", 1)
        await asyncio.sleep(0.2)
        await subscription.remove("team:t")
        assert subscription.channels == {"user:a"}
        await publish_n(live, "team:t", 2, start=1)
        (mine,) = await publish_n(live, "user:a", 1)
        # Not even the event queued before the removal.
        assert [e.id for e in await take(subscription, 1)] == [mine]
        await nothing_more(subscription)
        await subscription.aclose()

    async def test_a_sink_takes_events_only_while_its_consumer_waits_with_none_queued(
        self, live: LiveChannels
    ) -> None:
        subscription = live.subscribe()
        await subscription.add("user:a")
        taken: list[LiveEvent] = []
        accepting = True

        def sink(event: LiveEvent) -> bool:
            if accepting:
                taken.append(event)
            return accepting

        subscription.direct(sink)
        # Nobody waits in `next`: queued, for the consumer to take in order.
        queued = await publish_n(live, "user:a", 2)
        await asyncio.sleep(0.3)
        assert taken == []
        assert [e.id for e in await take(subscription, 2)] == queued
        # The consumer waits with nothing queued: the sink takes them; `next` sees none.
        waiting = asyncio.ensure_future(subscription.next(1.0))
        await asyncio.sleep(0.05)
        direct = await publish_n(live, "user:a", 3, start=2)
        assert await asyncio.wait_for(waiting, WAIT) is None
        assert [e.id for e in taken] == direct
        # What the sink leaves (a busy consumer) is queued, once, in order.
        accepting = False
        left = await publish_n(live, "user:a", 2, start=5)
        assert [e.id for e in await take(subscription, 2)] == left
        subscription.direct(None)
        accepting = True
        (last,) = await publish_n(live, "user:a", 1, start=7)
        assert [e.id for e in await take(subscription, 1)] == [last]
        assert [e.id for e in taken] == direct
        await subscription.aclose()

    async def test_a_wait_never_outlasts_what_it_asked_for(self, live: LiveChannels) -> None:
        """A long wait's deadline is kept for the next waits (one timer per deadline, not
        per wait), but a shorter wait that follows gets its own."""
        subscription = live.subscribe()
        await subscription.add("user:a")
        waiting = asyncio.ensure_future(subscription.next(3600.0))
        await asyncio.sleep(0.05)
        await live.publish("user:a", "tick", {"n": 1}, dedupe_key="k1")
        assert (await asyncio.wait_for(waiting, WAIT)) is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(subscription.next(0.2), WAIT) is None
        assert loop.time() - started < 2.0
        await subscription.aclose()

    async def test_closing_ends_the_iteration(self, live: LiveChannels) -> None:
        subscription = live.subscribe()
        await subscription.add("user:a")
        waiting = asyncio.ensure_future(anext(aiter(subscription)))
        await asyncio.sleep(0.05)
        await subscription.aclose()
        with pytest.raises(StopAsyncIteration):
            await waiting
        assert subscription.closed_reason == CloseReason.CLOSED
        assert subscription.channels == frozenset()

    async def test_closing_the_channels_closes_their_subscriptions(
        self, make_live: MakeLive
    ) -> None:
        live = await make_live()
        subscription = live.subscribe()
        await subscription.add("user:a")
        await live.aclose()
        assert subscription.closed_reason == CloseReason.SHUTDOWN


class TestSqlLiveChannels(LiveChannelsContract):
    @pytest.fixture
    async def make_live(self, db: Database) -> AsyncIterator[MakeLive]:
        made: list[tuple[SqlLiveChannels, Database]] = []

        async def make() -> SqlLiveChannels:
            database = Database(db.url)
            channels = SqlLiveChannels(database, replay_length=LOG, poll_interval=0.05)
            made.append((channels, database))
            return channels

        yield make
        for channels, database in made:
            await channels.aclose()
            await database.dispose()

    @pytest.fixture
    async def live(self, make_live: MakeLive) -> LiveChannels:
        return await make_live()

    async def test_the_log_keeps_the_newest_events_only(self, live: SqlLiveChannels) -> None:
        ids = await publish_n(live, "user:a", LOG + 5)
        kept = await live.replay("user:a", ids[4])
        assert kept is not None
        assert [e.id for e in kept] == ids[5:]
        assert await live.replay("user:a", ids[3]) is None


class TestRedisLiveChannels(LiveChannelsContract):
    @pytest.fixture
    async def make_live(
        self, redis_client: Redis, redis_url: str, redis_prefix: str
    ) -> AsyncIterator[MakeLive]:
        made: list[RedisLiveChannels] = []

        async def make() -> RedisLiveChannels:
            channels = RedisLiveChannels(
                redis_client, url=redis_url, prefix=redis_prefix, replay_length=LOG
            )
            made.append(channels)
            return channels

        yield make
        for channels in made:
            await channels.aclose()

    @pytest.fixture
    async def live(self, make_live: MakeLive) -> LiveChannels:
        return await make_live()

    async def test_a_lost_connection_is_caught_up_from_the_stream(
        self, live: RedisLiveChannels, redis_client: Redis
    ) -> None:
        subscription = live.subscribe()
        await subscription.add("user:a")
        before = await publish_n(live, "user:a", 3)
        assert [e.id for e in await take(subscription, 3)] == before
        # What a Redis restart does to the pub/sub connection: it is gone.
        clients = await redis_client.client_list(_type="pubsub")
        (mine,) = [c for c in clients if c.get("name") == live.client_name]
        await redis_client.client_kill_filter(_id=mine["id"])
        during = await publish_n(live, "user:a", 5, start=3)
        got = await take(subscription, 5)
        assert [e.id for e in got] == during
        after = await publish_n(live, "user:a", 2, start=8)
        assert [e.id for e in await take(subscription, 2)] == after
        await nothing_more(subscription)
        await subscription.aclose()

    async def test_one_pubsub_subscription_per_channel_per_process(
        self, live: RedisLiveChannels, redis_client: Redis, redis_prefix: str
    ) -> None:
        subscriptions = [live.subscribe() for _ in range(3)]
        for subscription in subscriptions:
            await subscription.add("team:t")
        key = f"{redis_prefix}live:team:t"
        assert await redis_client.pubsub_numsub(key) == [(key, 1)]
        for subscription in subscriptions:
            await subscription.aclose()
        await asyncio.sleep(0.1)
        assert await redis_client.pubsub_numsub(key) == [(key, 0)]
