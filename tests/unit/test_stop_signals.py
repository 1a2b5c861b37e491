"""`BeforeStop` with real signals sent to this process: the app's step runs before the server's
handler, which hears each signal once it is done, and a second signal meanwhile is not
handed over twice. The server's handler here records calls: Granian's own is exercised by
`tests/e2e/test_live_shutdown.py` against a real server."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from waymark.transport.signals import BeforeStop, granian_handler


async def test_the_app_stops_its_streams_before_the_server_hears_the_signal() -> None:
    order: list[str] = []
    released = asyncio.Event()
    heard = asyncio.Event()

    def server(signum: int, frame: Any) -> None:
        order.append(f"server {signal.Signals(signum).name}")
        heard.set()

    async def before() -> None:
        order.append("before")
        await released.wait()

    stopping = BeforeStop(before, server_handler=lambda: server)
    assert stopping.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)  # the process group's, then the parent's
        await asyncio.sleep(0.1)
        assert order == ["before"]  # the server has heard nothing yet
        released.set()
        await asyncio.wait_for(heard.wait(), 2)
        assert order == ["before", "server SIGTERM"]
        heard.clear()
        os.kill(os.getpid(), signal.SIGINT)  # once handed over, straight to the server
        await asyncio.wait_for(heard.wait(), 2)
        assert order == ["before", "server SIGTERM", "server SIGINT"]
    finally:
        stopping.uninstall()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def test_without_a_server_to_go_before_nothing_is_installed() -> None:
    assert granian_handler() is None  # this is no Granian worker
    stopping = BeforeStop(lambda: asyncio.sleep(0))
    assert not stopping.install()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
