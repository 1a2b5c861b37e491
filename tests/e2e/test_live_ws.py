"""Live updates over the WebSocket (`/api/v1/live`, `waymark.live.v1`), with the real
`websockets` client against real `waymark serve` processes.

Production-like: two processes sharing PostgreSQL and Redis, a change on one reaching a
socket on the other, resumed without loss across forced reconnects; who may follow a team.
Embedded: one process on the database alone, no Redis. Abuse: oversize frames, floods, a
client that never reads.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.live_support import (
    TOPICS,
    changes,
    live_env,
    make_changes,
    set_status,
    team_of_three,
    user,
)
from tests.e2e.ws_support import SUBPROTOCOL, refusal, socket, ticket, ws_url
from tests.integration.teams_support import seed_team
from tests.servers import Served, free_port, serving, stop
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.mark.backend("sqlite")
async def test_the_embedded_profile_serves_sockets_in_one_process_without_redis(
    database_url: str, tmp_path: Path
) -> None:
    env = live_env(tmp_path, database_url)
    with serving(env, tmp_path / "serve.log") as served:
        learner = await user(env, served.base, "solo@example.org")
        async with (
            socket(served.base, learner) as live,
            httpx.AsyncClient(base_url=served.base) as api,
        ):
            assert live.ready["channels"] == [f"user:{learner.id}"]
            assert live.connection.subprotocol == SUBPROTOCOL
            for topic, status in changes(3):
                await set_status(api, learner, topic, status)
            got = [await live.next() for _ in range(3)]
            assert [event["data"]["seq"] for event in got] == [1, 2, 3]
            assert {event["channel"] for event in got} == {f"user:{learner.id}"}
            assert len({event["id"] for event in got}) == 3
            await live.send(type="ping", ref="r1")
            assert await live.next(("pong",)) == {"type": "pong", "ref": "r1"}
        # Gone for two changes; back with the last cursor.
        await make_changes(served.base, learner, changes(5)[3:])
        async with socket(served.base, learner, cursor=got[-1]["cursor"]) as resumed:
            assert [(await resumed.next())["data"]["seq"] for _ in range(2)] == [4, 5]
            # The server stops: the app closes its sockets (1001) before Granian drops them.
            await asyncio.to_thread(stop, served.process)
            assert await resumed.closed(timeout=5) == 1001


@pytest.mark.backend("postgresql")
async def test_changes_through_one_process_reach_sockets_on_another_across_reconnects(
    two_servers: tuple[dict[str, str], Served, Served], db: Database
) -> None:
    env, a, b = two_servers
    learner = await user(env, a.base, "burst@example.org")
    team = uuid.uuid4()
    burst = changes(150)
    got: dict[str, list[int]] = {"user": [], "team": []}
    cursor: str | None = None
    reconnects = 0

    await seed_team(db, team, {learner.id: "owner"}, roadmap="backend")
    producer: asyncio.Task[None] | None = None
    while len(got["team"]) < len(burst) or len(got["user"]) < len(burst):
        # Each connection reads a few events of either channel, then drops (the client goes
        # away mid-burst); the next, on the other process, resumes from the last cursor. The
        # changes are all made through A, and B's sockets hear of them.
        served = (b, a)[reconnects % 2]
        async with socket(served.base, learner, cursor=cursor) as live:
            assert (await live.subscribe(f"team:{team}"))["type"] == "subscribed"
            if producer is None:
                producer = asyncio.create_task(make_changes(a.base, learner, burst))
            for _ in range(41):
                event = await live.next(("event", "resync"), timeout=30)
                assert event["type"] == "event", event
                got[event["channel"].partition(":")[0]].append(event["data"]["seq"])
                cursor = event["cursor"]
                if len(got["team"]) == len(got["user"]) == len(burst):
                    break
        reconnects += 1
    assert producer is not None
    await producer
    assert reconnects >= 5
    assert got["user"] == list(range(1, len(burst) + 1))
    assert got["team"] == list(range(1, len(burst) + 1))


@pytest.mark.backend("postgresql")
async def test_team_channels_only_for_who_may_watch_and_not_after_removal(
    two_servers: tuple[dict[str, str], Served, Served], db: Database
) -> None:
    env, a, b = two_servers
    team, owner, member, stranger = await team_of_three(env, a.base, db)
    channel = f"team:{team}"

    async with socket(b.base, stranger) as refused:
        answer = await refused.subscribe(channel, ref="mine?")
        assert answer == {
            "type": "error",
            "ref": "mine?",
            "code": "not-found",
            "detail": answer["detail"],
        }
        assert (await refused.subscribe(f"user:{owner.id}"))["code"] == "not-found"
        assert (await refused.subscribe("team:nope"))["code"] == "validation-failed"
    async with (
        socket(b.base, member) as watching,
        socket(a.base, owner) as owning,
        httpx.AsyncClient(base_url=a.base) as api,
    ):
        for live in (watching, owning):
            subscribed = await live.subscribe(channel)
            assert (subscribed["type"], subscribed["channel"]) == ("subscribed", channel)
        await set_status(api, owner, TOPICS[1], "done")
        for live in (watching, owning):
            seen = await live.next(channel=channel)
            assert seen["data"]["account_id"] == str(owner.id)
        # The owner takes the member out of the team, while the member's socket is open.
        removed = await api.delete(f"/api/v1/teams/{team}/members/{member.id}", headers=owner.auth)
        assert removed.status_code == 204, removed.text
        closed = await watching.next(("channel-closed",))
        assert (closed["channel"], closed["reason"]) == (channel, "forbidden")
        await set_status(api, owner, TOPICS[1], "learning")
        later = await owning.next(channel=channel)
        assert later["data"]["to_status"] == "learning"
        await watching.nothing()
        # Unsubscribing stops a channel too; the socket's own channel goes on.
        await owning.send(type="unsubscribe", channel=channel)
        assert (await owning.next(("unsubscribed",)))["channel"] == channel
        owning.backlog.clear()
        await set_status(api, owner, TOPICS[1], "done")
        mine = await owning.next()
        assert (mine["channel"], mine["data"]["seq"]) == (f"user:{owner.id}", 3)
        await owning.nothing(channel=channel)


def closes(served: Served) -> list[int]:
    """The close codes the server logged, in order."""
    lines = [json.loads(line) for line in served.output().splitlines() if line.startswith("{")]
    return [line["code"] for line in lines if line["event"] == "live.websocket-closed"]


@pytest.fixture
def guarded(database_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], Served]]:
    """One embedded process with small caps, logging at info (the access log too)."""
    port = free_port()
    env = live_env(
        tmp_path,
        database_url,
        WAYMARK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        WAYMARK_LOG__LEVEL="info",
        WAYMARK_LIVE__QUEUE_SIZE="8",
        WAYMARK_LIVE__SEND_TIMEOUT_SECONDS="1",
        WAYMARK_LIVE__WS_MESSAGES_PER_SECOND="2",
        WAYMARK_LIVE__WS_MESSAGE_BURST="10",
        WAYMARK_LIVE__HEARTBEAT_SECONDS="30",
    )
    with serving(env, tmp_path / "serve.log", port=port) as served:
        yield env, served


@pytest.mark.backend("sqlite")
async def test_a_ticket_opens_one_socket_and_is_never_logged(
    guarded: tuple[dict[str, str], Served],
) -> None:
    env, served = guarded
    learner = await user(env, served.base, "once@example.org")
    once = await ticket(served.base, learner)
    url = ws_url(served.base, ticket=once)
    async with connect(url, subprotocols=[SUBPROTOCOL]) as first:  # type: ignore[list-item]
        assert "ready" in str(await first.recv())
        async with connect(url, subprotocols=[SUBPROTOCOL]) as second:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(second.recv(), 5)
            assert second.close_code == 4401
    async with connect(ws_url(served.base), subprotocols=[SUBPROTOCOL]) as none:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(none.recv(), 5)
        assert none.close_code == 4401
    log = served.output()
    assert '"path": "/api/v1/me/live-tickets"' in log or "live-tickets" in log
    assert once not in log


@pytest.mark.backend("sqlite")
async def test_a_bad_origin_or_subprotocol_is_refused_before_the_handshake(
    guarded: tuple[dict[str, str], Served],
) -> None:
    env, served = guarded
    learner = await user(env, served.base, "origin@example.org")
    evil = {"origin": "https://evil.example"}
    url = ws_url(served.base, ticket=await ticket(served.base, learner))
    assert await refusal(url, subprotocols=[SUBPROTOCOL], additional_headers=evil) == 403
    assert await refusal(ws_url(served.base, ticket=await ticket(served.base, learner))) == 403
    # The site's own pages may connect (the public URL's origin).
    own = {"origin": served.base}
    async with socket(served.base, learner, additional_headers=own) as live:
        assert live.ready["channels"] == [f"user:{learner.id}"]


@pytest.mark.backend("sqlite")
async def test_oversize_frames_and_floods_close_only_their_own_socket(
    guarded: tuple[dict[str, str], Served],
) -> None:
    env, served = guarded
    learner = await user(env, served.base, "abuse@example.org")
    async with (
        socket(served.base, learner) as bystander,
        socket(served.base, learner) as big,
        socket(served.base, learner) as flood,
        httpx.AsyncClient(base_url=served.base) as api,
    ):
        await big.send(type="ping", ref="x" * 5000)
        assert await big.closed() == 1009
        for n in range(40):
            await flood.send(type="subscribe", channel=f"team:{uuid.uuid4()}", ref=str(n))
        assert await flood.closed() == 1008
        await set_status(api, learner, TOPICS[0], "done")
        assert (await bystander.next())["data"]["seq"] == 1
        await bystander.send(type="ping")
        assert (await bystander.next(("pong",)))["type"] == "pong"


@pytest.mark.backend("sqlite")
async def test_a_client_that_never_reads_is_cut_off_and_no_one_else_is(
    guarded: tuple[dict[str, str], Served], db: Database
) -> None:
    env, served = guarded
    stalled_user = await user(env, served.base, "stalled@example.org")
    reader = await user(env, served.base, "reader@example.org")
    channels = SqlLiveChannels(db, poll_interval=0.1)
    big = "x" * 64 * 1024
    try:
        async with (
            socket(served.base, stalled_user, max_queue=1) as stalled,
            socket(served.base, reader) as healthy,
        ):
            # 12 MiB to a client that reads none of it: more than any socket buffer.
            for n in range(200):
                await channels.publish(
                    f"user:{stalled_user.id}", "test.big", {"n": n, "pad": big}, dedupe_key=str(n)
                )
            await asyncio.sleep(2)  # past the send timeout (1 s)
            await channels.publish(f"user:{reader.id}", "test.small", {"n": 1}, dedupe_key="r")
            assert (await healthy.next(timeout=5, kind=None))["data"] == {"n": 1}
            for _ in range(150):  # the server says it cut the stalled one off (up to 15 s)
                if closes(served):
                    break
                await asyncio.sleep(0.1)
            assert closes(served) == [4008]
            # What was already in the buffers comes, then the end; never all of it.
            assert await stalled.drain(30) < 200
        async with httpx.AsyncClient(base_url=served.base) as api:
            assert (await api.get("/readyz")).status_code == 200
    finally:
        await channels.aclose()
