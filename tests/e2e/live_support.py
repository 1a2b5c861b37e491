"""Real served processes, a real SSE client (httpx, streaming) and the stock Socket.IO
client (npm `socket.io-client`, in Node) for the live tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from tests.conftest import BACKEND_ROADMAP
from tests.integration.teams_support import seed_team
from tests.needs import unavailable
from tests.servers import Served, in_process, serving
from waymark.features.roadmaps import document
from waymark.infra.sql.database import Database

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


def start(
    stack: ExitStack, env: dict[str, str], *servers: tuple[str, Path, int | None]
) -> list[Served]:
    """Processes serving sockets, each `(kind, log, port)` (`serve`: the whole app;
    `gateway`: `waymark live`, sockets only), started at once (each takes seconds to be
    ready) and stopped when `stack` closes."""
    starting = [
        serving(env, log, port=port, command="live" if kind == "gateway" else "serve")
        for kind, log, port in servers
    ]
    with ThreadPoolExecutor(len(starting)) as pool:
        futures = [pool.submit(server.__enter__) for server in starting]
        wait(futures)
    for server, future in zip(starting, futures, strict=True):
        if future.exception() is None:
            stack.push(server.__exit__)
    return [future.result() for future in futures]


@pytest.fixture
def two_servers(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Served, Served]]:
    """Processes A and B: one PostgreSQL (or SQLite) database, one Redis."""
    env = live_env(tmp_path, database_url, redis_url=redis_url)
    with ExitStack() as stack:
        a, b = start(
            stack, env, ("serve", tmp_path / "a.log", None), ("serve", tmp_path / "b.log", None)
        )
        yield env, a, b


class User(NamedTuple):
    email: str
    id: uuid.UUID
    auth: dict[str, str]


async def user(env: dict[str, str], base: str, email: str) -> User:
    """`waymark users create`, then signed in over the API with a bearer token."""
    created = await in_process(env, "users", "create", email, stdin=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    async with httpx.AsyncClient(base_url=base) as client:
        tokens = (
            await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        ).json()
        auth = {"authorization": f"Bearer {tokens['access_token']}"}
        me = (await client.get("/api/v1/me", headers=auth)).json()
    return User(email, uuid.UUID(me["id"]), auth)


class Team(NamedTuple):
    id: uuid.UUID
    owner: User
    member: User
    stranger: User


async def team_of_three(env: dict[str, str], base: str, db: Database) -> Team:
    """An owner and a member of a new team on `backend` whose members see its progress, and
    a stranger to it; all three signed in through `base`."""
    owner = await user(env, base, "owner@example.org")
    member = await user(env, base, "member@example.org")
    stranger = await user(env, base, "stranger@example.org")
    team = uuid.uuid4()
    members = {owner.id: "owner", member.id: "member"}
    await seed_team(db, team, members, members_see_progress=True, roadmap="backend")
    return Team(team, owner, member, stranger)


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


async def make_changes(base: str, who: User, steps: list[tuple[str, str]]) -> None:
    """Each of `steps` (topic, status) through `base`'s API, one after the other."""
    async with httpx.AsyncClient(base_url=base) as api:
        for topic, status in steps:
            await set_status(api, who, topic, status)


def changes(n: int) -> list[tuple[str, str]]:
    """`n` status changes, each changing something: every topic, round after round."""
    return [(TOPICS[i % len(TOPICS)], ROUNDS[(i // len(TOPICS)) % 4]) for i in range(n)]


ROOT = Path(__file__).resolve().parents[2]
NODE_CLIENT = Path(__file__).with_name("socketio_client.mjs")


class SocketIo:
    """The stock `socket.io-client` in a Node process (`socketio_client.mjs`), driven over
    its stdin; what it hears comes back a JSON object a line."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.process: asyncio.subprocess.Process | None = None
        self.seen: Counter[str] = Counter()
        """How many messages of each type were read (those skipped included)."""
        self._held: deque[dict[str, Any]] = deque()
        """Messages read while waiting for an ack, for `next` to give first."""

    async def __aenter__(self) -> SocketIo:
        node = shutil.which("node")
        if node is None or not (ROOT / "node_modules" / "socket.io-client").is_dir():
            unavailable("socket.io-client", "run `make browser-tools` (Node and npm ci)")
        self.process = await asyncio.create_subprocess_exec(
            node,
            str(NODE_CLIENT),
            self.base,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        with contextlib.suppress(ConnectionError):
            await self.send(op="exit")
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def send(self, **command: Any) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def connect(
        self,
        auth: dict[str, Any],
        *,
        resume: bool = False,
        websocket: bool = False,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Connect to `/live` (long-polling upgraded to WebSocket, or with `websocket`,
        WebSocket alone; `headers` sent with each request); what came of it: `connected` or
        `connect_error`."""
        transports = ["websocket"] if websocket else None
        await self.send(
            op="connect", auth=auth, resume=resume, transports=transports, headers=headers
        )
        return await self.next("connected", "connect_error")

    async def ask(self, event: str, data: Any) -> Any:
        """Emit `event` and wait for its ack. Events that come first are kept for `next`:
        Socket.IO does not order an ack after the events its handler caused (a `subscribe`'s
        own `presence.changed` can come first)."""
        await self.send(op="emit", event=event, data=data)
        while (message := await self._read(15))["type"] != "ack":
            self._held.append(message)
        return message["data"]

    async def next(self, *types: str, timeout: float = 15) -> dict[str, Any]:
        while True:
            message = self._held.popleft() if self._held else await self._read(timeout)
            if message["type"] in types:
                return message

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert line, "the Socket.IO client ended"
        message: dict[str, Any] = json.loads(line)
        assert message["type"] != "error", message
        self.seen[message["type"]] += 1
        return message

    async def nothing(self, *names: str, within: float = 1.5) -> None:
        """No event named one of `names` comes within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            name, data = await self.event(*names, timeout=within)
            raise AssertionError(f"unexpected {name}: {data}")

    async def event(
        self, *names: str, channel: str | None = None, timeout: float = 15
    ) -> tuple[str, Any]:
        """The next event named one of `names` (of `channel`, if given): its name and data."""
        while True:
            message = await self.next("event", timeout=timeout)
            data = message["data"]
            if message["event"] in names and channel in (None, data.get("channel")):
                return message["event"], data
