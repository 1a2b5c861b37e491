"""Live updates over the WebSocket (`/api/v1/live`, `waymark.live.v1`), with the real
`websockets` client against real `waymark serve` processes, and against the live gateway
(`waymark live`, the same endpoint on the `websockets` server) beside them: each test on
`two_processes` or `guarded` runs on both.

Production-like: two processes sharing PostgreSQL and Redis, a change on one reaching a
socket on the other, resumed without loss across forced reconnects; who may follow a team.
Embedded: one process on the database alone, no Redis. Abuse: oversize frames, floods, a
client that never reads. The gateway: a change through an app process reaches its sockets,
SIGTERM closes them with 1001, and `/metrics` counts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.live_support import (
    TOPICS,
    changes,
    live_env,
    make_changes,
    set_status,
    start,
    team_of_three,
    user,
)
from tests.e2e.ws_support import SUBPROTOCOL, Endpoint, refusal, socket, ticket, ws_url
from tests.integration.teams_support import seed_team
from tests.servers import Served, free_port, serving, stop
from waymark.infra.observability.metrics import CONTENT_TYPE
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels

pytestmark = pytest.mark.usefixtures("backend_roadmap")

KINDS = ["serve", "gateway"]
"""What serves the sockets: the app process itself, or the live gateway beside it."""


@pytest.fixture(params=KINDS)
def two_processes(
    request: pytest.FixtureRequest, database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Served, Endpoint]]:
    """App process A, and B serving sockets (an app, or the gateway, whose tickets A
    issues): one database, one Redis."""
    env = live_env(tmp_path, database_url, redis_url=redis_url)
    with ExitStack() as stack:
        a, b = start(
            stack,
            env,
            ("serve", tmp_path / "a.log", None),
            (request.param, tmp_path / "b.log", None),
        )
        yield env, a, Endpoint(a.base if request.param == "gateway" else b.base, b.base)


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
    two_processes: tuple[dict[str, str], Served, Endpoint], db: Database
) -> None:
    env, a, b = two_processes
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
        served = (b, a.base)[reconnects % 2]
        async with socket(served, learner, cursor=cursor) as live:
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
    two_processes: tuple[dict[str, str], Served, Endpoint], db: Database
) -> None:
    env, a, b = two_processes
    team, owner, member, stranger = await team_of_three(env, a.base, db)
    channel = f"team:{team}"

    async with socket(b, stranger) as refused:
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
        socket(b, member) as watching,
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


class Guarded(NamedTuple):
    env: dict[str, str]
    app: Served
    live: Served
    """What serves the sockets: `app` itself, or the gateway."""

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.app.base, self.live.base)


@pytest.fixture(params=KINDS)
def guarded(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Guarded]:
    """One embedded process with small caps, logging at info (the access log too), and
    the gateway beside it on the same database for `gateway`."""
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
    with ExitStack() as stack:
        app, *gateway = start(
            stack,
            env,
            ("serve", tmp_path / "serve.log", port),
            *([("gateway", tmp_path / "live.log", None)] if request.param == "gateway" else []),
        )
        yield Guarded(env, app, gateway[0] if gateway else app)


@pytest.mark.backend("sqlite")
async def test_tickets_and_the_handshake_guards(guarded: Guarded) -> None:
    """Two claims on one start of the processes (each start takes seconds)."""
    await a_ticket_opens_one_socket_and_is_never_logged(guarded)
    await a_bad_origin_or_subprotocol_is_refused_before_the_handshake(guarded)


async def a_ticket_opens_one_socket_and_is_never_logged(guarded: Guarded) -> None:
    env, served, live = guarded
    learner = await user(env, served.base, "once@example.org")
    once = await ticket(served.base, learner)
    url = ws_url(live.base, ticket=once)
    async with connect(url, subprotocols=[SUBPROTOCOL]) as first:  # type: ignore[list-item]
        assert "ready" in str(await first.recv())
        async with connect(url, subprotocols=[SUBPROTOCOL]) as second:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(second.recv(), 5)
            assert second.close_code == 4401
    async with connect(ws_url(live.base), subprotocols=[SUBPROTOCOL]) as none:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(none.recv(), 5)
        assert none.close_code == 4401
    log = served.output()
    assert '"path": "/api/v1/me/live-tickets"' in log or "live-tickets" in log
    assert once not in log
    assert once not in live.output()


async def a_bad_origin_or_subprotocol_is_refused_before_the_handshake(guarded: Guarded) -> None:
    env, served, live = guarded
    learner = await user(env, served.base, "origin@example.org")
    evil = {"origin": "https://evil.example"}
    url = ws_url(live.base, ticket=await ticket(served.base, learner))
    assert await refusal(url, subprotocols=[SUBPROTOCOL], additional_headers=evil) == 403
    assert await refusal(ws_url(live.base, ticket=await ticket(served.base, learner))) == 403
    # The site's own pages may connect (the public URL's origin).
    own = {"origin": served.base}
    async with socket(guarded.endpoint, learner, additional_headers=own) as mine:
        assert mine.ready["channels"] == [f"user:{learner.id}"]


@pytest.mark.backend("sqlite")
async def test_oversize_frames_and_floods_close_only_their_own_socket(
    guarded: Guarded,
) -> None:
    env, served, live = guarded
    learner = await user(env, served.base, "abuse@example.org")
    async with (
        socket(guarded.endpoint, learner) as bystander,
        socket(guarded.endpoint, learner) as big,
        socket(guarded.endpoint, learner) as flood,
        httpx.AsyncClient(base_url=served.base) as api,
    ):
        await big.send(type="ping", ref="x" * 5000)
        assert await big.closed() == 1009
        # A flooder goes on writing after the server closed on it: its writes, or the
        # messages left unread on the server's side, can make TCP reset the connection, and
        # a reset drops the close frame still unread on the client's side (it then sees
        # 1006). So the server's own word is the check: it closed this socket with 1008.
        with contextlib.suppress(ConnectionClosed):
            for n in range(40):
                await flood.send(type="subscribe", channel=f"team:{uuid.uuid4()}", ref=str(n))
        assert await flood.closed() in (1008, 1006)
        for _ in range(50):
            if 1008 in closes(live):
                break
            await asyncio.sleep(0.1)
        assert closes(live) == [1009, 1008]
        await set_status(api, learner, TOPICS[0], "done")
        assert (await bystander.next())["data"]["seq"] == 1
        await bystander.send(type="ping")
        assert (await bystander.next(("pong",)))["type"] == "pong"


@pytest.mark.backend("sqlite")
async def test_a_client_that_never_reads_is_cut_off_and_no_one_else_is(
    guarded: Guarded, db: Database
) -> None:
    env, served, live = guarded
    stalled_user = await user(env, served.base, "stalled@example.org")
    reader = await user(env, served.base, "reader@example.org")
    channels = SqlLiveChannels(db, poll_interval=0.1)
    big = "x" * 64 * 1024
    try:
        async with (
            socket(guarded.endpoint, stalled_user, max_queue=1) as stalled,
            socket(guarded.endpoint, reader) as healthy,
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
                if closes(live):
                    break
                await asyncio.sleep(0.1)
            assert closes(live) == [4008]
            # What was already in the buffers comes, then the end; never all of it.
            assert await stalled.drain(30) < 200
        for process in {served, live}:
            async with httpx.AsyncClient(base_url=process.base) as api:
                assert (await api.get("/readyz")).status_code == 200
    finally:
        await channels.aclose()


@pytest.mark.backend("sqlite")
@pytest.mark.parametrize("guarded", ["gateway"], indirect=True)
async def test_the_gateway_closes_its_sockets_with_1001_on_sigterm_and_exits(
    guarded: Guarded,
) -> None:
    env, served, live = guarded
    learner = await user(env, served.base, "leaving@example.org")
    # Plain HTTP on its port: probes for an orchestrator, and nothing else.
    async with httpx.AsyncClient(base_url=live.base) as probe:
        assert (await probe.get("/healthz")).json() == {"status": "ok"}
        assert (await probe.get("/readyz")).json()["checks"] == {"database": "ok"}
        assert (await probe.get("/api/v1/me")).status_code == 404
    async with (
        socket(guarded.endpoint, learner) as first,
        socket(guarded.endpoint, learner) as second,
    ):
        live.process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert await first.closed(timeout=5) == 1001
        assert await second.closed(timeout=5) == 1001
        assert await asyncio.to_thread(live.process.wait, 10) == 0
    assert time.monotonic() - began < 5
    assert closes(live) == [1001, 1001]
    # The app goes on.
    async with httpx.AsyncClient(base_url=served.base) as api:
        assert (await api.get("/readyz")).status_code == 200


def scraped(text: str) -> dict[str, float]:
    """`/metrics`' samples: `name` or `name{label="value"}` to its value."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@pytest.mark.backend("sqlite")
@pytest.mark.parametrize("guarded", ["gateway"], indirect=True)
async def test_the_gateway_counts_its_sockets_deliveries_and_closes_on_metrics(
    guarded: Guarded,
) -> None:
    env, served, live = guarded
    learner = await user(env, served.base, "counted@example.org")
    async with httpx.AsyncClient(base_url=live.base) as probe:
        before = await probe.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"] == CONTENT_TYPE
        assert scraped(before.text)["waymark_live_sockets_open"] == 0
        refused = connect(ws_url(live.base), subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
        async with refused as none:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(none.recv(), 5)
        async with (
            socket(guarded.endpoint, learner) as first,
            socket(guarded.endpoint, learner) as second,
            httpx.AsyncClient(base_url=served.base) as api,
        ):
            for topic, status in changes(3):
                await set_status(api, learner, topic, status)
            for live_socket in (first, second):
                assert [(await live_socket.next())["data"]["seq"] for _ in range(3)] == [1, 2, 3]
            during = scraped((await probe.get("/metrics")).text)
            assert during["waymark_live_sockets_open"] == 2
            assert during["waymark_live_deliveries_total"] == 6  # 3 events, 2 sockets
        for _ in range(50):  # both closed by the client (1000), seen by the gateway
            after = scraped((await probe.get("/metrics")).text)
            if after["waymark_live_sockets_open"] == 0:
                break
            await asyncio.sleep(0.1)
        assert after["waymark_live_sockets_open"] == 0
        assert after['waymark_live_socket_closes_total{code="4401"}'] == 1
        assert after['waymark_live_socket_closes_total{code="1000"}'] == 2
