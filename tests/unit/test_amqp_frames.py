"""`amqp_frames._written`: a frame's write that aiormq fails with a `CancelledError` of its
own (it does so to every pending future of a connection it finds stuck) is an error of the
publish or ack, not a cancellation of the relay or worker that made it; a real cancellation
of the caller still cancels it. Pure asyncio: the futures are the kind aiormq makes."""

from __future__ import annotations

import asyncio

import pytest

from waymark.infra.broker.amqp_frames import NotPublished, _written


async def test_a_write_failed_with_a_cancelled_error_is_the_callers_error() -> None:
    written: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    written.set_exception(asyncio.CancelledError())  # as aiormq's FutureStore.reject_all
    with pytest.raises(NotPublished):
        await _written(written, NotPublished)
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def test_a_caller_cancelled_while_it_waits_is_cancelled() -> None:
    written: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(_written(written, ConnectionError))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()
