"""Permits for pooled connections: first come, first served, each wait bounded.

`Database` holds one permit per connection a pool may hand out, so holding a permit means a
connection is free. `asyncio.Semaphore` serves waiters in order, but bounding each wait with
`asyncio.timeout` armed a timer per waiter: under load (512 connections, 10 permits) nearly
every request waited, and arming, cancelling and sifting those timers was 6-8 % of the
signed-in path (bench/README.md). Here the waiters queue in order with their deadlines, so
the deadlines are in order too and one timer, set for the oldest waiter's, serves the
whole queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class FifoPermits:
    """`size` permits; `acquire` waits at most `timeout` seconds, then raises `on_timeout()`.

    A released permit goes to the oldest waiter still waiting, never to a newcomer (who
    would barge in ahead of those who waited longer). A waiter cancelled while waiting
    leaves the queue without taking a permit; one cancelled just as it was handed a permit
    gives it back."""

    __slots__ = ("_free", "_on_timeout", "_timeout", "_timer", "_waiters")

    def __init__(self, size: int, timeout: float, on_timeout: Callable[[], Exception]) -> None:
        self._free = size
        self._timeout = timeout
        self._on_timeout = on_timeout
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def locked(self) -> bool:
        """Whether an `acquire` now would wait."""
        return self._free == 0 or bool(self._waiters)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop.time() + self._timeout, waiter))
        if self._timer is None:
            self._timer = loop.call_at(self._waiters[0][0], self._expire)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # handed a permit just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _deadline, waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def _expire(self) -> None:
        """Fail every waiter past its deadline; set the timer for the next one's."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiters:
            deadline, waiter = self._waiters[0]
            if waiter.done():  # cancelled while waiting
                self._waiters.popleft()
            elif deadline <= now:
                self._waiters.popleft()
                waiter.set_exception(self._on_timeout())
            else:
                self._timer = loop.call_at(deadline, self._expire)
                return
