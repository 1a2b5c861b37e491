"""CPU-heavy work of a request (parsing a large document) in a worker thread, so the event
loop keeps answering everyone else; a few at a time per process, so it never takes more
than that many threads from the pool that password hashing shares. A request that waits
too long for its turn is answered 503 with `Retry-After`."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from waymark.kernel.errors import ServiceUnavailable

P = ParamSpec("P")
T = TypeVar("T")


class OffLoop:
    def __init__(self, *, slots: int = 1, wait_seconds: float = 5.0, busy: str) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._wait = wait_seconds
        self._busy = busy

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise ServiceUnavailable(
                self._busy, retry_after=max(1, math.ceil(self._wait))
            ) from None
        running = asyncio.ensure_future(asyncio.to_thread(work, *args, **kwargs))
        # Released when the thread is done, not when the request is: a client that hangs up
        # cannot make room for another while its own work still runs.
        running.add_done_callback(self._release)
        return await asyncio.shield(running)

    def _release(self, running: asyncio.Future[T]) -> None:
        self._slots.release()
        if not running.cancelled():
            running.exception()  # retrieved, so one nobody waits for any more is not logged
