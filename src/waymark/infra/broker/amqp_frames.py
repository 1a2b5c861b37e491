"""Many AMQP methods in one socket write, on aiormq's channel: what the RabbitMQ broker does
for every job and aio-pika only does one message at a time.

- `publish_all`: persistent messages with publisher confirms, every publish's frames in
  one write, then the broker's confirms awaited together. Per message, aio-pika's
  `Exchange.publish` took the channel's lock, queued a write, woke the connection's writer
  for a socket write of its own and waited for it to drain: a fifth of the worker's and
  relay's Python per job (bench/jobs), more than RabbitMQ's own work.
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
from typing import cast

import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.header import ContentHeader

Outgoing = tuple[bytes, spec.Basic.Properties]
"""A message to publish: its body and its properties (`message_id` set)."""


class NotPublished(Exception):
    """RabbitMQ refused a message (a nack) or could not route it (returned): it is not in
    any queue, and its publisher must try again."""


async def publish_all(
    channel: aiormq.abc.AbstractChannel,
    messages: Sequence[Outgoing],
    *,
    routing_key: str,
    exchange: str = "",
) -> None:
    """Publish `messages` in order on `channel` (in confirm mode) and return once RabbitMQ
    has confirmed every one; raise `NotPublished` if it refused or returned any (mandatory:
    a message no queue takes is an error, never a silent loss), or the channel's error if it
    closed first. Cancelled before the write, nothing was sent."""
    if not messages:
        return
    ch = cast(aiormq.Channel, channel)
    assert ch.publisher_confirms, "publish_all waits for confirms"
    assert all(properties.message_id for _, properties in messages), "a return finds it by id"
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
        tags = range(first, first + len(messages))
        ids = [properties.message_id or "" for _, properties in messages]
        for tag, message_id in zip(tags, ids, strict=True):
            confirmation = ch.create_future()  # failed by aiormq if the channel closes
            ch.confirmations[tag] = confirmation
            ch.message_id_delivery_tag[message_id] = tag  # how a return finds its publish
            confirmations.append(confirmation)
        ch.delivery_tag = tags[-1]
        written = ch.create_future()
        try:
            await ch.write_queue.put(
                ChannelFrame.marshall(ch.number, frames, drain_future=written)  # type: ignore[arg-type]
            )
        except BaseException:
            # Never queued, so RabbitMQ has not seen them: their tags are free again.
            ch.delivery_tag = first - 1
            for tag, message_id, confirmation in zip(tags, ids, confirmations, strict=True):
                ch.confirmations.pop(tag, None)
                _forget(ch, message_id, tag)
                confirmation.cancel()
            raise
        await written
    try:
        outcomes = await asyncio.gather(*confirmations, return_exceptions=True)
    finally:
        for tag, message_id in zip(tags, ids, strict=True):
            _forget(ch, message_id, tag)
    refused = [o for o in outcomes if not isinstance(o, spec.Basic.Ack)]
    if refused:
        errors = [o for o in refused if isinstance(o, BaseException)]
        if errors and not isinstance(errors[0], aiormq.exceptions.DeliveryError):
            raise errors[0]  # the channel closed: its own error
        raise NotPublished(f"{len(refused)} of {len(messages)} messages refused or returned")


def _forget(ch: aiormq.Channel, message_id: str, tag: int) -> None:
    if ch.message_id_delivery_tag.get(message_id) == tag:
        ch.message_id_delivery_tag.pop(message_id)


async def ack_all(channel: aiormq.abc.AbstractChannel, delivery_tags: Sequence[int]) -> None:
    """Ack each of `delivery_tags` (deliveries of `channel`) in one write."""
    if not delivery_tags:
        return
    written = cast(aiormq.Channel, channel).create_future()  # failed if the channel closes
    frames = [spec.Basic.Ack(delivery_tag=tag) for tag in delivery_tags]
    await channel.connection.write_queue.put(
        ChannelFrame.marshall(channel.number, frames, drain_future=written)
    )
    await written
