"""A stopping server ends its live streams cleanly, then exits: against a real `waymark serve`
(Granian, a worker process), with real clients of the three protocols open on it."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.live_support import EVENTS, Listener, SocketIo, live_env, user
from tests.e2e.ws_support import socket
from tests.servers import group_gone, serving
from waymark.features.live.protocol import Close

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.mark.backend("sqlite")
async def test_sigterm_ends_every_live_stream_with_its_shutdown_word_then_every_process_exits(
    database_url: str, tmp_path: Path
) -> None:
    """SIGTERM to Granian's main process alone (what Kubernetes sends): the SSE stream gets
    `event: close` `shutdown` and ends, the WebSocket 1001, the Socket.IO client `close`
    `shutdown` then a server disconnect; and the main process and its worker are gone within
    a few seconds, though the SSE stream would have lasted an hour."""
    env = live_env(
        tmp_path,
        database_url,
        WAYMARK_LIVE__STOP_GRACE_SECONDS="3",
        WAYMARK_HTTP__WORKERS_KILL_TIMEOUT="10",
    )
    with serving(env, tmp_path / "serve.log") as served:
        learner = await user(env, served.base, "stopping@example.org")
        token = learner.auth["authorization"].removeprefix("Bearer ")
        async with (
            Listener(served.base, learner.auth) as sse,
            socket(served.base, learner) as ws,
            SocketIo(served.base) as sio,
        ):
            assert (await sio.connect({"token": token}))["type"] == "connected"
            await sio.event("ready")
            await sse.next(("ready",))

            started = time.monotonic()
            served.process.send_signal(signal.SIGTERM)

            closing = await sse.next(("close",), timeout=5)
            assert closing.data == {"reason": "shutdown"}
            await asyncio.wait_for(sse.ended.wait(), 5)  # the response ended, too
            assert await ws.closed(timeout=5) == Close.SHUTDOWN == 1001
            assert ws.connection.close_reason == "shutdown"
            assert await sio.event("close", timeout=5) == ("close", {"reason": "shutdown"})
            assert (await sio.next("disconnect", timeout=5))["reason"] == "io server disconnect"
            # Told within the stop grace, well before the process goes.
            assert time.monotonic() - started < 3

            await asyncio.to_thread(served.process.wait, 10)
            gone = await asyncio.to_thread(group_gone, served.process.pid, 10)
            stopped_in = time.monotonic() - started
            assert gone, "a Granian worker outlived the server"
            assert served.process.returncode == 0, served.output()
            assert stopped_in < 6, stopped_in
        # Stopped by itself, not killed for overstaying: Granian kills a worker that has not
        # stopped within its kill timeout (WAYMARK_HTTP__WORKERS_KILL_TIMEOUT, 10 s here),
        # and all was over within 6. (Granian may still log "Killing worker" for one that
        # had just ended: it looks again 1 ms after the worker's join returned, which a
        # loaded machine can outlast; seen once on CI, with the server gone in under 6 s.)
        async with httpx.AsyncClient(base_url=served.base) as api:
            with pytest.raises(httpx.TransportError):
                await api.get(EVENTS, headers=learner.auth, timeout=2)
