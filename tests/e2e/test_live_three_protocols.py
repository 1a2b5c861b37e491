"""One change, three protocols, two processes: the stock clients of each live transport
(the `websockets` library, the npm `socket.io-client` in Node, an SSE client reading the
frames with httpx) against two real `waymark serve` processes sharing PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.live_support import CHANGED, TOPICS, Listener, SocketIo, set_status, user
from tests.e2e.ws_support import socket
from tests.servers import Served
from waymark.features.live.channels import decode_cursor

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.mark.backend("postgresql")
async def test_one_change_through_a_reaches_websocket_and_sse_on_b_and_socketio_on_a_once(
    two_servers: tuple[dict[str, str], Served, Served],
) -> None:
    env, a, b = two_servers
    learner = await user(env, a.base, "three@example.org")
    channel = f"user:{learner.id}"
    async with (
        socket(b.base, learner) as ws,
        SocketIo(a.base) as sio,
        Listener(b.base, learner.auth) as sse,
        httpx.AsyncClient(base_url=a.base) as api,
    ):
        token = learner.auth["authorization"].removeprefix("Bearer ")
        assert (await sio.connect({"token": token}))["type"] == "connected"
        # Each follows the learner's channel from now, before the change is made.
        assert ws.ready["channels"] == [channel]
        assert (await sio.event("ready"))[1]["channels"] == [channel]
        assert (await sse.next(("ready",))).data == {"channels": [channel]}

        await set_status(api, learner, TOPICS[0], "done")

        by_ws = await ws.next()
        _, by_socketio = await sio.event(CHANGED)
        by_sse = await sse.next()
        payload = by_ws["data"]
        assert (payload["account_id"], payload["topic_id"]) == (str(learner.id), TOPICS[0])
        assert (payload["from_status"], payload["to_status"], payload["seq"]) == (
            "pending",
            "done",
            1,
        )
        # The same event: its id in the channel (the WebSocket's `id`) is what each
        # transport's cursor holds, and the cursors and payloads are equal to the letter.
        cursor = by_ws["cursor"]
        assert decode_cursor(cursor) == {channel: by_ws["id"]}
        assert by_ws == {
            "type": "event",
            "channel": channel,
            "kind": CHANGED,
            "id": by_ws["id"],
            "cursor": cursor,
            "data": payload,
        }
        assert by_socketio == {"channel": channel, "id": cursor, "data": payload}
        assert (by_sse.id, by_sse.event, by_sse.data) == (
            cursor,
            CHANGED,
            {"channel": channel, "data": payload},
        )
        # Once: nothing more comes to any of them (watched side by side).
        await asyncio.gather(ws.nothing(within=1.5), sio.nothing(CHANGED), sse.nothing())
