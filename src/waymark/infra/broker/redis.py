"""The broker on Redis (`redis://`): a stream and a consumer group.

- `<name>` (`<redis key prefix><queue>`): the stream of ready jobs, read by the consumer
  group `workers`. A delivery is a pending entry of the worker that read it; settling it
  acks and deletes the entry. An entry pending longer than `visibility_timeout` (its
  worker died) is claimed by the next worker that asks (XAUTOCLAIM): the redelivery.
- `<name>:delayed`: a sorted set of jobs waiting out their backoff, scored by when they
  are due; `receive` moves the due ones into the stream (one script, atomic).
- `<name>:dead`: the dead-letter stream.

Every settlement is one MULTI (the entry's ack and delete with the write that moves the job
on), so a job is never both gone and not moved. Durability is Redis's: run it with AOF
(`appendfsync everysec` loses at most a second of jobs on a crash of the server itself).
An entry claimed more than `delivery_limit` times (its job kills every worker that takes
it) is moved to the dead-letter stream instead of being delivered again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from waymark.kernel.broker import UNSETTLED_TOO_OFTEN, Delivery, Job, QueueDepth

GROUP = "workers"
FIELD = "job"

PROMOTE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
"""


class RedisBroker:
    def __init__(
        self,
        client: Redis,
        *,
        name: str = "waymark:waymark.jobs",
        visibility_timeout: float = 60.0,
        max_block: float = 1.0,
        delivery_limit: int = 20,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.owns_client = owns_client
        self.stream = name
        self.delayed = f"{name}:delayed"
        self.dead_stream = f"{name}:dead"
        self.visibility_ms = max(1, int(visibility_timeout * 1000))
        self.max_block = max_block
        self.delivery_limit = delivery_limit
        self.consumer = f"worker-{secrets.token_hex(6)}"
        self._promote = client.register_script(PROMOTE_DUE)
        self._ready = False

    async def setup(self) -> None:
        if self._ready:
            return
        try:
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._ready = True

    async def publish(self, jobs: Sequence[Job]) -> None:
        await self.setup()
        async with self.client.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.xadd(self.stream, {FIELD: job.encode()})
            await pipe.execute()

    async def receive(self, limit: int, *, wait: float) -> list[Delivery]:
        await self.setup()
        deadline = time.monotonic() + wait
        while True:
            await self._promote(keys=[self.delayed, self.stream], args=[time.time(), limit])
            claimed: Any
            _, claimed, _ = await self.client.xautoclaim(
                self.stream, GROUP, self.consumer, self.visibility_ms, "0-0", count=limit
            )
            entries = await self._within_delivery_limit(list(claimed))
            if not entries:
                left = deadline - time.monotonic()
                block = max(1, int(min(left, self.max_block) * 1000)) if left > 0 else None
                read: Any = await self.client.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=limit, block=block
                )
                entries = [entry for _, stream_entries in read for entry in stream_entries]
            if entries or time.monotonic() >= deadline:
                return [
                    Delivery(job=Job.decode(_body(fields)), handle=entry_id)
                    for entry_id, fields in entries
                    if fields  # an entry deleted while pending comes back empty
                ]

    async def _within_delivery_limit(self, claimed: list[Any]) -> list[Any]:
        """Of the entries just claimed from dead workers, those delivered fewer than
        `delivery_limit` times; the others (the job kills whoever takes it) go to the
        dead-letter stream."""
        kept = []
        for entry_id, fields in claimed:
            if not fields:
                continue
            pending: Any = await self.client.xpending_range(
                self.stream, GROUP, min=entry_id, max=entry_id, count=1
            )
            if pending and pending[0]["times_delivered"] > self.delivery_limit:
                job = Job.decode(_body(fields)).but(last_error=UNSETTLED_TOO_OFTEN)
                await self._settle(
                    Delivery(job=job, handle=entry_id),
                    ("XADD", self.dead_stream, "*", FIELD, job.encode().decode()),
                )
            else:
                kept.append((entry_id, fields))
        return kept

    async def _settle(self, delivery: Delivery, move: tuple[str, ...] | None = None) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            if move is not None:
                pipe.execute_command(*move)
            pipe.xack(self.stream, GROUP, delivery.handle)
            pipe.xdel(self.stream, delivery.handle)
            await pipe.execute()

    async def ack(self, delivery: Delivery) -> None:
        await self._settle(delivery)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        ids = [delivery.handle for delivery in deliveries]
        if not ids:  # XACK and XDEL want at least one
            return
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, *ids)
            pipe.xdel(self.stream, *ids)
            await pipe.execute()

    async def release(self, delivery: Delivery) -> None:
        body = delivery.job.encode().decode()
        await self._settle(delivery, ("XADD", self.stream, "*", FIELD, body))

    async def retry(self, delivery: Delivery, *, delay: float, error: str) -> None:
        job = delivery.job
        again = job.but(attempt=job.attempt + 1, last_error=error).encode().decode()
        await self._settle(delivery, ("ZADD", self.delayed, repr(time.time() + delay), again))

    async def dead(self, delivery: Delivery, *, error: str) -> None:
        body = delivery.job.but(last_error=error).encode().decode()
        await self._settle(delivery, ("XADD", self.dead_stream, "*", FIELD, body))

    async def depth(self) -> QueueDepth:
        await self.setup()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream)
            pipe.xpending(self.stream, GROUP)
            pipe.zcard(self.delayed)
            pipe.xlen(self.dead_stream)
            length, pending, delayed, dead = await pipe.execute()
        return QueueDepth(ready=length - pending["pending"], delayed=delayed, dead=dead)

    async def dead_jobs(self, limit: int = 100) -> list[Job]:
        entries: Any = await self.client.xrange(self.dead_stream, count=limit)
        return [Job.decode(_body(fields)) for _, fields in entries]

    async def retry_dead(self, ids: Sequence[str] | None = None) -> int:
        wanted = None if ids is None else set(ids)
        moved = 0
        entries: Any = await self.client.xrange(self.dead_stream)
        for entry_id, fields in entries:
            job = Job.decode(_body(fields))
            if wanted is not None and job.id not in wanted:
                continue
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(self.stream, {FIELD: job.but(attempt=1).encode()})
                pipe.xdel(self.dead_stream, entry_id)
                await pipe.execute()
            moved += 1
        return moved

    async def purge_dead(self) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xlen(self.dead_stream)
            pipe.delete(self.dead_stream)
            count, _ = await pipe.execute()
        return int(count)

    async def teardown(self) -> None:
        await self.client.delete(self.stream, self.delayed, self.dead_stream)
        self._ready = False

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


def _body(fields: dict[Any, Any]) -> bytes | str:
    """The job's JSON, whether the client decodes responses or not."""
    body: bytes | str = fields.get(FIELD) or fields[FIELD.encode()]
    return body
