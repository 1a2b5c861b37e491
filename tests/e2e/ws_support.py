"""A real WebSocket client (the `websockets` library) of `/api/v1/live`, for the live tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.live_support import CHANGED, User

LIVE = "/api/v1/live"
TICKETS = "/api/v1/me/live-tickets"
SUBPROTOCOL = "waymark.live.v1"


async def ticket(base: str, who: User) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(TICKETS, headers=who.auth)
    assert response.status_code == 200, response.text
    issued = response.json()
    assert issued["expires_in"] == 30
    return str(issued["ticket"])


def ws_url(base: str, **params: str) -> str:
    return base.replace("http://", "ws://", 1) + LIVE + ("?" + urlencode(params) if params else "")


class Socket:
    """One connection: its `ready`, and the messages after it, `ping`s answered."""

    def __init__(self, connection: ClientConnection, ready: dict[str, Any]) -> None:
        self.connection = connection
        self.ready = ready
        self.backlog: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.connection.send(json.dumps(message))

    async def next(
        self,
        types: tuple[str, ...] = ("event",),
        timeout: float = 15,
        channel: str | None = None,
        kind: str | None = CHANGED,
    ) -> dict[str, Any]:
        """The next message of one of `types` (of `channel`; an event only of `kind`).
        Messages passed over wait for a later call (an event may come before the answer to a
        subscribe, whose events follow it)."""

        def wanted(message: dict[str, Any]) -> bool:
            if message["type"] == "event" and kind not in (None, message["kind"]):
                return False
            return message["type"] in types and channel in (None, message.get("channel"))

        for message in self.backlog:
            if wanted(message):
                self.backlog.remove(message)
                return message
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.connection.recv())
                if message["type"] == "ping":
                    await self.send(type="pong")
                if wanted(message):
                    return dict(message)
                self.backlog.append(message)

    async def nothing(
        self, types: tuple[str, ...] = ("event",), within: float = 1.0, channel: str | None = None
    ) -> None:
        try:
            message = await self.next(types, within, channel)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {message}")

    async def subscribe(self, channel: str, **extra: Any) -> dict[str, Any]:
        await self.send(type="subscribe", channel=channel, **extra)
        return await self.next(("subscribed", "error"))

    async def closed(self, timeout: float = 15) -> int | None:
        """The close code, once the server closed the connection (messages before it
        skipped)."""
        await self.drain(timeout)
        return self.connection.close_code

    async def drain(self, timeout: float = 15) -> int:
        """How many messages came before the server closed the connection."""
        received = 0
        async with asyncio.timeout(timeout):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.connection.recv()
                    received += 1
        return received


class Endpoint(NamedTuple):
    """Where a client asks for tickets (`api`, the app) and connects its socket (`ws`: the
    app itself, or the live gateway, `waymark live`)."""

    api: str
    ws: str


@asynccontextmanager
async def socket(
    where: str | Endpoint, who: User, *, cursor: str | None = None, **options: Any
) -> AsyncIterator[Socket]:
    """A connection as `who` (a new ticket), once its `ready` came; `where` a base URL
    (the app, both) or an `Endpoint`."""
    api, ws = (where, where) if isinstance(where, str) else where
    params = {"ticket": await ticket(api, who)}
    if cursor is not None:
        params["cursor"] = cursor
    async with connect(ws_url(ws, **params), subprotocols=[SUBPROTOCOL], **options) as conn:  # type: ignore[list-item]
        ready = json.loads(await asyncio.wait_for(conn.recv(), 10))
        assert ready["type"] == "ready", ready
        yield Socket(conn, ready)


async def refusal(url: str, **options: Any) -> int:
    """The HTTP status of a handshake the server refuses."""
    try:
        async with connect(url, **options):
            pass
    except InvalidStatus as refused:
        return refused.response.status_code
    raise AssertionError("the handshake was accepted")
