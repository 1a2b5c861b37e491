"""`FifoPermits` (infra/sql/permits.py): first come, first served; each wait bounded; a
cancelled waiter neither takes nor loses a permit."""

from __future__ import annotations

import asyncio

import pytest

from waymark.infra.sql.permits import FifoPermits


class Busy(Exception):
    pass


async def test_permits_go_to_waiters_in_the_order_they_came() -> None:
    permits = FifoPermits(1, timeout=5, on_timeout=Busy)
    await permits.acquire()
    served: list[int] = []

    async def wait(number: int) -> None:
        await permits.acquire()
        served.append(number)

    waiters = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert permits.locked()
    permits.release()  # to the oldest waiter
    late = asyncio.create_task(wait(3))  # a newcomer as the permit comes back
    for _ in range(3):
        await asyncio.sleep(0)
    assert served == [0]
    for _ in range(3):
        permits.release()
        await asyncio.sleep(0)
    await asyncio.gather(*waiters, late)
    assert served == [0, 1, 2, 3]


async def test_a_wait_ends_after_the_timeout_for_each_waiter_in_turn() -> None:
    permits = FifoPermits(1, timeout=0.05, on_timeout=Busy)
    await permits.acquire()
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(permits.acquire())
    await asyncio.sleep(0.03)
    second = asyncio.create_task(permits.acquire())
    with pytest.raises(Busy):
        await first
    assert 0.04 <= loop.time() - started < 0.5
    assert not second.done()  # its own deadline is later
    with pytest.raises(Busy):
        await second
    assert loop.time() - started >= 0.07
    permits.release()
    await asyncio.wait_for(permits.acquire(), 1)  # the permit is still there


async def test_a_cancelled_waiter_leaves_the_queue_and_the_permits_whole() -> None:
    permits = FifoPermits(1, timeout=5, on_timeout=Busy)
    await permits.acquire()
    cancelled = asyncio.create_task(permits.acquire())
    after = asyncio.create_task(permits.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    permits.release()
    await asyncio.wait_for(after, 1)  # skipped the cancelled one
    permits.release()
    assert not permits.locked()


async def test_a_waiter_cancelled_as_it_is_handed_a_permit_passes_it_on() -> None:
    permits = FifoPermits(1, timeout=5, on_timeout=Busy)
    await permits.acquire()
    handed = asyncio.create_task(permits.acquire())
    next_one = asyncio.create_task(permits.acquire())
    await asyncio.sleep(0)
    permits.release()  # the permit is handed to `handed`, which has not run yet
    handed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed
    await asyncio.wait_for(next_one, 1)
    permits.release()
    assert not permits.locked()
