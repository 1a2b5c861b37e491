"""Many AMQP methods in one socket write, on aiormq's channel: what the RabbitMQ broker does
for every job and aio-pika only does one message at a time.

- `publish_all`: persistent messages with publisher confirms, every publish's frames in
  one write, then the broker's confirms awaited together. Per message, aio-pika's
  `Exchange.publish` took the channel's lock, queued a write, woke the connection's writer
  for a socket write of its own and waited for it to drain: with the `aio_pika.Message`
  built for it, half of the relay's and worker's Python per job (bench/jobs).
- `ack_all`: the acks of several deliveries in one write, each delivery named alone (never
  AMQP's `multiple`, which would settle every earlier delivery of the channel too).

Both use aiormq's own frame (`ChannelFrame`) and write queue, and `publish_all` the
channel's lock, delivery-tag counter and confirmation futures, exactly as aiormq's
`basic_publish` and `basic_ack` use them for one message. They are aiormq internals (7.2,
pinned by uv.lock): the broker contract suite runs every publish and ack through here against
RabbitMQ, so an upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import cast

import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.header import ContentHeader

Outgoing = tuple[bytes, spec.Basic.Properties]
"""A message to publish: its body and its properties (`message_id` set)."""


class NotPublished(Exception):
    """RabbitMQ did not confirm every message of a publish: it refused one (a nack), could
    not route one (returned: no queue takes it), or the channel closed first (a message may
    then be queued all the same). The publisher publishes them again; a job that arrives
    twice is skipped by its processed key."""


async def publish_all(
    channel: aiormq.abc.AbstractChannel,
    messages: Sequence[Outgoing],
    *,
    routing_key: str,
    exchange: str = "",
) -> None:
    """Publish `messages` in order on `channel` (in confirm mode) and return once RabbitMQ
    has confirmed every one; otherwise raise `NotPublished` (mandatory: a message no queue
    takes is an error, never a silent loss), or the channel's error if it is closed.
    Cancelled before the write, nothing was sent."""
    if not messages:
        return
    ch = cast(aiormq.Channel, channel)
    if not ch.publisher_confirms:
        raise ValueError("publish_all waits for confirms: the channel must be in confirm mode")
    ids = [properties.message_id or "" for _, properties in messages]
    if not all(ids):
        # aiormq finds the publish of a returned message by its id. Two of one batch may
        # share one (a job published twice): a return of either fails the whole batch.
        raise ValueError("every message of a publish needs a message_id")
    frames: list[object] = []
    for body, properties in messages:
        frames += [
            spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True),
            ContentHeader(properties=properties, body_size=len(body)),
            *ch._split_body(body),
        ]
    confirmations: list[asyncio.Future[object]] = []
    async with ch.lock:  # raises if the channel is closed
        first = ch.delivery_tag + 1
        for tag, message_id in enumerate(ids, first):
            confirmation = ch.create_future()  # failed by aiormq if the channel closes
            ch.confirmations[tag] = confirmation
            ch.message_id_delivery_tag[message_id] = tag
            confirmation.add_done_callback(partial(_forget, ch, message_id, tag))
            confirmations.append(confirmation)
        ch.delivery_tag = first + len(messages) - 1
        written = ch.create_future()
        try:
            await ch.write_queue.put(
                ChannelFrame.marshall(ch.number, frames, drain_future=written)  # type: ignore[arg-type]
            )
        except BaseException:
            # Never queued, so RabbitMQ has not seen them: their tags are free again.
            ch.delivery_tag = first - 1
            for tag, confirmation in enumerate(confirmations, first):
                ch.confirmations.pop(tag, None)
                confirmation.cancel()
            written.cancel()
            raise
        await _written(written, NotPublished)
    outcomes = await asyncio.gather(*confirmations, return_exceptions=True)
    refused = [o for o in outcomes if not isinstance(o, spec.Basic.Ack)]
    if refused:
        cause = next((o for o in refused if isinstance(o, BaseException)), None)
        raise NotPublished(
            f"{len(refused)} of {len(messages)} messages not confirmed: {refused[0]!r}"
        ) from cause


async def _written(written: asyncio.Future[object], error: type[Exception]) -> None:
    """Wait for a frame to be written. A connection aiormq finds stuck fails its futures
    with a `CancelledError` nobody asked for: that is `error` here, not a cancellation of
    the caller (which would stop a relay or worker that only lost its connection)."""
    try:
        await written
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise error("the connection closed before the frame was written") from exc


def _forget(ch: aiormq.Channel, message_id: str, tag: int, _: object) -> None:
    """Once a publish is settled, its id no longer leads to its tag (unless reused since)."""
    if ch.message_id_delivery_tag.get(message_id) == tag:
        ch.message_id_delivery_tag.pop(message_id)


async def ack_all(channel: aiormq.abc.AbstractChannel, delivery_tags: Sequence[int]) -> None:
    """Ack each of `delivery_tags` (deliveries of `channel`) in one write."""
    if not delivery_tags:
        return
    if channel.is_closed:  # RabbitMQ answers a method on a closed channel by closing all
        raise aiormq.exceptions.ChannelInvalidStateError(f"{channel!r} closed")
    written = cast(aiormq.Channel, channel).create_future()  # failed if the channel closes
    frames = [spec.Basic.Ack(delivery_tag=tag) for tag in delivery_tags]
    await channel.connection.write_queue.put(
        ChannelFrame.marshall(channel.number, frames, drain_future=written)
    )
    await _written(written, ConnectionError)
