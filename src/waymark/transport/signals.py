"""A stopping server process's first step: the application ends what it holds open (live
streams) *before* the server (Granian) hears SIGTERM or SIGINT.

Granian's worker, on SIGTERM, stops accepting, drops its WebSockets without a close frame,
and waits for HTTP responses in flight (an SSE stream: up to an hour) before it runs the
ASGI lifespan's shutdown, where the app would have ended its streams. So the app cannot
wait for the lifespan, and a handler beside Granian's is too late: the event loop (uvloop
as well as asyncio's) dispatches a signal to the one handler registered on it from its
wakeup fd, whatever the Python-level handler does. `BeforeStop`, installed in the
lifespan's startup (in the worker, once Granian registered its handler), takes that place
itself: on the signal it runs `before` (bounded by whoever gives it), then calls Granian's
handler, once; a second signal meanwhile (the process group's and the parent's) is not
handed over twice.

Granian (2.8) offers no hook for this and keeps its handler to itself: it is found as the
one function `signal_handler` of `granian._signals.set_loop_signals` alive in the process
(`tests/e2e/test_live_shutdown.py` fails if that changes). Under another server, or none
(a test's in-process app), nothing is installed and stopping is as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import signal
import sys
import threading
import types
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_GRANIAN_HANDLER = ("granian._signals", "set_loop_signals.<locals>.signal_handler")

Handler = Callable[[int, Any], Any]


def granian_handler() -> Handler | None:
    """The handler Granian's worker registered on its loop for SIGTERM and SIGINT (which
    lets it start stopping), if this is such a worker."""
    found = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, types.FunctionType)
        and (obj.__module__, obj.__qualname__) == _GRANIAN_HANDLER
    ]
    return found[0] if len(found) == 1 else None


class BeforeStop:
    def __init__(
        self,
        before: Callable[[], Awaitable[None]],
        *,
        server_handler: Callable[[], Handler | None] = granian_handler,
    ) -> None:
        self.before = before
        self._find_server_handler = server_handler
        self._server: Handler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._handed_over = False

    def install(self) -> bool:
        """Take the server's place as the loop's handler of SIGTERM and SIGINT; False when
        there is no server's handler to go before."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._server = self._find_server_handler()
        if self._server is None:
            if "granian" in sys.modules:  # a Granian that keeps its handler elsewhere now
                log.warning("server.stop-signals-not-found")
            return False
        self._loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._on_signal, sig)
        return True

    def uninstall(self) -> None:
        """Give the server its handlers back."""
        if self._loop is None or self._server is None:
            return
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._server, sig, None)
        self._loop = None

    def _on_signal(self, signum: int) -> None:
        assert self._server is not None
        if self._handed_over:
            self._server(signum, None)
        elif self._stopping is None:
            # Not in the context of whatever the loop ran last (a request's log fields).
            context = contextvars.Context()
            self._stopping = context.run(asyncio.ensure_future, self._stop(signum))

    async def _stop(self, signum: int) -> None:
        log.info("server.stopping", signal=signal.Signals(signum).name)
        try:
            await self.before()
        except Exception:
            log.exception("server.before-stop-failed")
        finally:
            self._handed_over = True
            assert self._server is not None
            self._server(signum, None)
