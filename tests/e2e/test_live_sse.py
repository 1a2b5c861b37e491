"""Live updates over SSE, against real `waymark serve` processes.

Production-like: two processes sharing PostgreSQL and Redis, a change on one reaching a
stream on the other, resumed without loss across forced reconnects; who may follow a team.
Embedded: one process (and a two-worker server) on the database alone, no Redis.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.e2e.live_support import (
    CHANGED,
    TOPICS,
    Listener,
    changes,
    live_env,
    make_changes,
    set_status,
    team_of_three,
    user,
)
from tests.servers import Served, serving
from waymark.infra.sql.database import Database

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.mark.backend("postgresql")
async def test_a_change_on_one_process_reaches_a_stream_on_another(
    two_servers: tuple[dict[str, str], Served, Served],
) -> None:
    env, a, b = two_servers
    learner = await user(env, a.base, "learner@example.org")
    async with Listener(b.base, learner.auth) as stream, httpx.AsyncClient(base_url=a.base) as api:
        (ready,) = [await stream.next(("ready",))]
        assert ready.data == {"channels": [f"user:{learner.id}"]}
        await set_status(api, learner, TOPICS[0], "done")
        event = await stream.next()
        assert event.data["channel"] == f"user:{learner.id}"
        change = event.data["data"]
        assert (change["topic_id"], change["to_status"], change["seq"]) == (
            TOPICS[0],
            "done",
            1,
        )
        assert event.id
        assert event.id != ready.id


@pytest.mark.backend("postgresql")
async def test_forced_reconnects_mid_burst_lose_and_repeat_nothing(
    two_servers: tuple[dict[str, str], Served, Served],
) -> None:
    env, a, b = two_servers
    learner = await user(env, a.base, "burst@example.org")
    burst = changes(200)
    got: list[int] = []
    last_id: str | None = None
    reconnects = 0
    producer: asyncio.Task[None] | None = None
    while len(got) < len(burst):
        # Each connection reads a few events, then drops (the client goes away mid-burst),
        # and the next resumes with the last id it had.
        async with Listener(b.base, learner.auth, last_id=last_id) as stream:
            if producer is None:
                producer = asyncio.create_task(make_changes(a.base, learner, burst))
            for _ in range(37):
                event = await stream.next((CHANGED, "resync"), timeout=30)
                assert event.event == CHANGED, event
                got.append(event.data["data"]["seq"])
                last_id = event.id
                if len(got) == len(burst):
                    break
        reconnects += 1
    assert producer is not None
    await producer
    assert reconnects >= 5
    assert got == list(range(1, len(burst) + 1))


@pytest.mark.backend("postgresql")
async def test_team_channels_only_for_those_who_may_watch_and_not_after_removal(
    two_servers: tuple[dict[str, str], Served, Served], db: Database
) -> None:
    env, a, b = two_servers
    team, owner, member, stranger = await team_of_three(env, a.base, db)

    async with Listener(b.base, stranger.auth, params={"team": str(team)}) as refused:
        assert refused.status == 404
        assert (await refused.next(("problem",))).data["code"] == "not-found"

    team_only = {"team": str(team)}
    async with (
        Listener(b.base, member.auth, params=team_only) as watching,
        Listener(a.base, owner.auth, params=team_only) as owning,
        httpx.AsyncClient(base_url=a.base) as api,
    ):
        await set_status(api, owner, TOPICS[1], "done")
        for stream in (watching, owning):
            seen = await stream.next()
            assert seen.data["channel"] == f"team:{team}"
            assert seen.data["data"]["account_id"] == str(owner.id)
        # The owner takes the member out of the team, while the member's stream is open.
        removed = await api.delete(f"/api/v1/teams/{team}/members/{member.id}", headers=owner.auth)
        assert removed.status_code == 204, removed.text
        closed = await watching.next(("channel-closed",))
        assert closed.data == {"channel": f"team:{team}", "data": {"reason": "forbidden"}}
        await set_status(api, owner, TOPICS[1], "learning")
        later = await owning.next(channel=f"team:{team}")
        assert later.data["data"]["to_status"] == "learning"
        await watching.nothing()


async def test_the_embedded_profile_streams_in_one_process_without_redis(
    database_url: str, tmp_path: Path
) -> None:
    env = live_env(tmp_path, database_url)
    with serving(env, tmp_path / "serve.log") as served:
        learner = await user(env, served.base, "solo@example.org")
        async with (
            Listener(served.base, learner.auth) as stream,
            httpx.AsyncClient(base_url=served.base) as api,
        ):
            for topic, status in changes(5):
                await set_status(api, learner, topic, status)
            got = [await stream.next() for _ in range(5)]
            assert [event.data["data"]["seq"] for event in got] == [1, 2, 3, 4, 5]
            await stream.nothing()
        # Gone for two changes; back with the last id in the query (an EventSource that
        # cannot set the header is given it in its URL).
        await make_changes(served.base, learner, changes(7)[5:])
        params = {"last_event_id": got[-1].id}
        async with Listener(served.base, learner.auth, params=params) as resumed:
            assert [(await resumed.next()).data["data"]["seq"] for _ in range(2)] == [6, 7]


@pytest.mark.backend("sqlite")
async def test_two_workers_on_one_sqlite_file_share_events(
    database_url: str, tmp_path: Path
) -> None:
    env = live_env(tmp_path, database_url)
    with serving(env, tmp_path / "serve.log", "--workers", "2") as served:
        learner = await user(env, served.base, "workers@example.org")
        # Several streams: the kernel spreads the connections over both workers, and the
        # changes too; every stream gets every change, whichever worker wrote it.
        async with (
            Listener(served.base, learner.auth) as first,
            Listener(served.base, learner.auth) as second,
            Listener(served.base, learner.auth) as third,
        ):
            for topic, status in changes(12):
                async with httpx.AsyncClient(base_url=served.base) as fresh:
                    await set_status(fresh, learner, topic, status)
            for stream in (first, second, third):
                seqs = [(await stream.next()).data["data"]["seq"] for _ in range(12)]
                assert seqs == list(range(1, 13))
