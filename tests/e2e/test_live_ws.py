"""Live updates over the WebSocket (`/api/v1/live`, `waymark.live.v1`), with the real
`websockets` client against real `waymark serve` processes.

Production-like: two processes sharing PostgreSQL and Redis, a change on one reaching a
socket on the other, resumed without loss across forced reconnects; who may follow a team.
Embedded: one process on the database alone, no Redis. Abuse: oversize frames, floods, a
client that never reads.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.contract.redis_server import redis_url
from tests.e2e.live_support import CHANGED, TOPICS, changes, live_env, set_status, user
from tests.e2e.ws_support import SUBPROTOCOL, socket, ticket, ws_url
from tests.integration.teams_support import seed_team
from tests.servers import Served, serving
from waymark.infra.sql.database import Database

__all__ = ["redis_url"]

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.fixture
def two_servers(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Served, Served]]:
    """Processes A and B: one PostgreSQL (or SQLite) database, one Redis."""
    env = live_env(tmp_path, database_url, redis_url=redis_url)
    with ExitStack() as stack:
        a = stack.enter_context(serving(env, tmp_path / "a.log"))
        b = stack.enter_context(serving(env, tmp_path / "b.log"))
        yield env, a, b


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
            assert {event["kind"] for event in got} == {CHANGED}
            assert {event["channel"] for event in got} == {f"user:{learner.id}"}
            await live.send(type="ping", ref="r1")
            assert await live.next(("pong",)) == {"type": "pong", "ref": "r1"}
        # Gone for two changes; back with the last cursor.
        async with httpx.AsyncClient(base_url=served.base) as api:
            for topic, status in changes(5)[3:]:
                await set_status(api, learner, topic, status)
        async with socket(served.base, learner, cursor=got[-1]["cursor"]) as resumed:
            assert [(await resumed.next())["data"]["seq"] for _ in range(2)] == [4, 5]
