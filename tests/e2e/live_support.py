"""Real served processes and a real SSE client (httpx, streaming) for the live tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from tests.conftest import BACKEND_ROADMAP
from tests.e2e.test_cli_and_serve import create_user
from waymark.features.roadmaps import document

EVENTS = "/api/v1/me/events"
PASSWORD = "a long enough passphrase"
SPEC = document.load(BACKEND_ROADMAP)
TOPICS = [t.id for s in SPEC.sections for t in s.topics]
ROUNDS = ("learning", "done", "skipped", "pending")
"""Statuses a topic goes through, each a change from the one before (from `pending`)."""
CHANGED = "progress.topic_status_changed"


def live_env(
    tmp_path: Path, database_url: str, *, redis_url: str | None = None, **extra: str
) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    environ |= {
        "WAYMARK_VAR_DIR": str(tmp_path / "var"),
        "WAYMARK_DATABASE_URL": database_url,
        "WAYMARK_LOG__LEVEL": "warning",
        "WAYMARK_LIVE__HEARTBEAT_SECONDS": "1",
        "WAYMARK_LIVE__POLL_INTERVAL": "0.1",
        "WAYMARK_AUTH__ARGON2_MEMORY_KIB": "8",
        "WAYMARK_AUTH__ARGON2_TIME_COST": "1",
        "WAYMARK_ENVIRONMENT": "test",
        **extra,
    }
    if redis_url is not None:
        environ["WAYMARK_REDIS_URL"] = redis_url
        environ["WAYMARK_REDIS__KEY_PREFIX"] = f"waymark-test:{uuid.uuid4().hex}:"
    return environ


class User(NamedTuple):
    email: str
    id: uuid.UUID
    auth: dict[str, str]


async def user(env: dict[str, str], base: str, email: str) -> User:
    """`waymark users create`, then signed in over the API with a bearer token."""
    await asyncio.to_thread(create_user, env, email)
    async with httpx.AsyncClient(base_url=base) as client:
        tokens = (
            await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        ).json()
        auth = {"authorization": f"Bearer {tokens['access_token']}"}
        me = (await client.get("/api/v1/me", headers=auth)).json()
    return User(email, uuid.UUID(me["id"]), auth)


class Sse(NamedTuple):
    id: str | None
    event: str
    data: Any


async def sse_events(response: httpx.Response) -> AsyncIterator[Sse]:
    """The events of a `text/event-stream` answer, as the WHATWG parser reads them."""
    event_id, kind, data = None, "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Sse(event_id, kind, json.loads("\n".join(data)))
            event_id, kind, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)


class Listener:
    """An SSE client reading in the background into a queue, until stopped."""

    def __init__(
        self, base: str, auth: dict[str, str], *, params: Any = None, last_id: str | None = None
    ) -> None:
        self.base, self.auth, self.params, self.last_id = base, auth, params, last_id
        self.queue: asyncio.Queue[Sse] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.status: int | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        headers = dict(self.auth)
        if self.last_id is not None:
            headers["last-event-id"] = self.last_id
        timeout = httpx.Timeout(10, read=30)
        try:
            async with (
                httpx.AsyncClient(base_url=self.base, timeout=timeout) as client,
                client.stream("GET", EVENTS, headers=headers, params=self.params) as response,
            ):
                self.status = response.status_code
                if response.status_code != 200:
                    await response.aread()
                    await self.queue.put(Sse(None, "problem", response.json()))
                    return
                async for event in sse_events(response):
                    if event.event == "ready":
                        self._ready.set()
                    await self.queue.put(event)
        finally:
            self._ready.set()
            self.ended.set()

    async def next(
        self, kinds: tuple[str, ...] = (CHANGED,), timeout: float = 15, channel: str | None = None
    ) -> Sse:
        while True:
            event = await asyncio.wait_for(self.queue.get(), timeout)
            if event.event in kinds and channel in (None, event.data.get("channel")):
                return event

    async def nothing(self, kinds: tuple[str, ...] = (CHANGED,), within: float = 1.5) -> None:
        with contextlib.suppress(TimeoutError):
            event = await self.next(kinds, within)
            raise AssertionError(f"unexpected {event}")


async def set_status(client: httpx.AsyncClient, who: User, topic: str, status: str) -> None:
    response = await client.put(
        f"/api/v1/me/progress/backend/topics/{topic}", json={"status": status}, headers=who.auth
    )
    assert response.status_code == 200, response.text


def changes(n: int) -> list[tuple[str, str]]:
    """`n` status changes, each changing something: every topic, round after round."""
    return [(TOPICS[i % len(TOPICS)], ROUNDS[(i // len(TOPICS)) % 4]) for i in range(n)]
