"""The WebSocket route (`LiveSocketRoute`) driven in-process through ASGI, for what a real
server makes slow to reach: a stream's expiry, an unanswered ping, a send that never
completes, binary and malformed frames. On the embedded channels, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.integration.progress_support import new_account
from tests.integration.teams_support import team_services
from waymark.features.live.protocol import SUBPROTOCOL
from waymark.features.live.service import Live
from waymark.features.live.tickets import Tickets
from waymark.features.live.ws import LIVE_PATH, LiveSocketRoute
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.infra.sql.live_tickets import SqlLiveTickets
from waymark.infra.sql.presence import SqlPresence
from waymark.infra.sql.rate_limiter import SqlRateLimiter
from waymark.kernel.clock import Clock
from waymark.kernel.identity import Account
from waymark.kernel.throttle import Throttle
from waymark.settings import LiveSettings

pytestmark = pytest.mark.usefixtures("backend_roadmap")

Open = Callable[..., Awaitable["Peer"]]


class Peer:
    """The server's side of one connection: what the app receives and what it sent."""

    def __init__(self, *, stall: bool = False) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stall = stall
        self.task: asyncio.Task[None] | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        if self.stall and message["type"] == "websocket.send" and '"ready"' not in message["text"]:
            await asyncio.Event().wait()  # a client that never reads: the send never ends
        await self.sent.put(message)

    async def frame(self) -> dict[str, Any]:
        message = await asyncio.wait_for(self.sent.get(), 5)
        assert message["type"] == "websocket.send", message
        return dict(json.loads(message["text"]))

    async def close_code(self) -> int:
        while True:
            message = await asyncio.wait_for(self.sent.get(), 5)
            if message["type"] == "websocket.close":
                return int(message["code"])

    def say(self, **message: Any) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})


@pytest.fixture
async def connect(db: Database) -> AsyncIterator[Open]:
    channels = SqlLiveChannels(db, poll_interval=0.02)
    peers: list[Peer] = []
    async with team_services(db) as (teams, _):

        async def open_socket(account: Account, *, stall: bool = False, **caps: Any) -> Peer:
            settings = LiveSettings(**caps)
            live = Live(
                channels=channels,
                presence=SqlPresence(db),
                teams=teams,
                settings=settings,
                clock=time.time,
            )

            async def active(_: object) -> Account:
                return account

            tickets = Tickets(
                store=SqlLiveTickets(db),
                active=active,
                throttle=Throttle(SqlRateLimiter(db)),
                clock=Clock(),
                lifetime=30,
            )
            route = LiveSocketRoute(
                app=None,  # type: ignore[arg-type]
                live=live,
                tickets=tickets,
                settings=settings,
                origins=frozenset(),
            )
            ticket = await tickets.issue(account)
            scope = {
                "type": "websocket",
                "path": LIVE_PATH,
                "headers": [],
                "subprotocols": [SUBPROTOCOL],
                "query_string": f"ticket={ticket}".encode(),
            }
            peer = Peer(stall=stall)
            peer.task = asyncio.create_task(route(scope, peer.receive, peer.send))  # type: ignore[arg-type]
            peer.inbox.put_nowait({"type": "websocket.connect"})
            accepted = await asyncio.wait_for(peer.sent.get(), 5)
            assert accepted == {
                "type": "websocket.accept",
                "subprotocol": SUBPROTOCOL,
                "headers": [],
            }
            assert (await peer.frame())["type"] == "ready"
            peers.append(peer)
            return peer

        yield open_socket
        for peer in peers:
            peer.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
            assert peer.task is not None
            await asyncio.wait_for(peer.task, 5)
    await channels.aclose()


async def test_a_stream_past_its_time_is_closed_to_reconnect(connect: Open, db: Database) -> None:
    peer = await connect(await new_account(db), stream_seconds=0.3)
    assert await peer.close_code() == 4000


async def test_an_unanswered_ping_closes_and_an_answered_one_does_not(
    connect: Open, db: Database
) -> None:
    quiet = await connect(await new_account(db), heartbeat_seconds=0.2, ws_pong_timeout_seconds=0.3)
    assert (await quiet.frame())["type"] == "ping"
    assert await quiet.close_code() == 4001
    lively = await connect(
        await new_account(db), heartbeat_seconds=0.2, ws_pong_timeout_seconds=0.3
    )
    for _ in range(4):
        assert (await lively.frame())["type"] == "ping"
        lively.say(type="pong")
    assert lively.sent.empty()


async def test_a_send_that_never_completes_closes_as_a_slow_consumer(
    connect: Open, db: Database
) -> None:
    learner = await new_account(db)
    peer = await connect(learner, stall=True, send_timeout_seconds=0.3)
    peer.say(type="ping")
    assert await peer.close_code() == 4008


async def test_a_binary_frame_closes(connect: Open, db: Database) -> None:
    peer = await connect(await new_account(db))
    peer.inbox.put_nowait({"type": "websocket.receive", "bytes": b"{}"})
    assert await peer.close_code() == 1003


async def test_messages_of_the_wrong_shape_are_answered_and_the_socket_goes_on(
    connect: Open, db: Database
) -> None:
    peer = await connect(await new_account(db))
    wrong = {
        "{not json": "malformed-body",
        '{"type": "dance"}': "validation-failed",
        '{"type": "subscribe"}': "validation-failed",
        '{"type": "subscribe", "channel": "team:x", "extra": 1}': "validation-failed",
    }
    for text in wrong:
        peer.inbox.put_nowait({"type": "websocket.receive", "text": text})
    answers = [await peer.frame() for _ in wrong]
    assert [(a["type"], a["code"]) for a in answers] == [("error", c) for c in wrong.values()]
    peer.say(type="ping", ref="still here")
    assert await peer.frame() == {"type": "pong", "ref": "still here"}
