"""The broker on Amazon SQS (`sqs://`), with aiobotocore.

`sqs://REGION?endpoint=http://host:port` (credentials from the usual AWS chain, or
`sqs://KEY:SECRET@REGION`). Two standard queues: `<name>` (the queue setting, dots made
dashes), whose redrive policy
moves a job received `delivery_limit` times without being settled (it kills its workers)
to `<name>-dead`, the dead-letter queue. A received job is invisible for
`visibility_timeout`; a worker that dies without deleting it lets it come back then.

A retry sends the next attempt with a delay and deletes the delivered one; SQS delays are
whole seconds, at most 900 (15 minutes): longer backoffs are cut to that.
Tested against moto's server, an emulator of the SQS API (no real SQS is reachable here).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiobotocore.session import get_session

from waymark.kernel.broker import UNSETTLED_TOO_OFTEN, Delivery, Job, QueueDepth

MAX_DELAY_SECONDS = 900
BATCH = 10


class SqsBroker:
    def __init__(
        self,
        url: str,
        *,
        name: str = "waymark-jobs",
        visibility_timeout: float = 60.0,
        delivery_limit: int = 20,
    ) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.region = parts.hostname or "us-east-1"
        self.endpoint = query.get("endpoint", [None])[0]
        self.credentials: dict[str, str] = {}
        if parts.username:
            self.credentials = {
                "aws_access_key_id": unquote(parts.username),
                "aws_secret_access_key": unquote(parts.password or ""),
            }
        self.name = name.replace(".", "-")
        self.dead_name = f"{self.name}-dead"
        self.visibility = max(0, math.ceil(visibility_timeout))
        self.delivery_limit = delivery_limit
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._url = self._dead_url = ""

    async def setup(self) -> None:
        if self._client is not None:
            return
        client = await self._stack.enter_async_context(
            get_session().create_client(
                "sqs", region_name=self.region, endpoint_url=self.endpoint, **self.credentials
            )
        )
        dead = await client.create_queue(QueueName=self.dead_name)
        self._dead_url = dead["QueueUrl"]
        arn = await client.get_queue_attributes(
            QueueUrl=self._dead_url, AttributeNames=["QueueArn"]
        )
        redrive = {
            "deadLetterTargetArn": arn["Attributes"]["QueueArn"],
            "maxReceiveCount": str(self.delivery_limit),
        }
        main = await client.create_queue(
            QueueName=self.name,
            Attributes={
                "VisibilityTimeout": str(self.visibility),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
        self._url = main["QueueUrl"]
        self._client = client

    async def publish(self, jobs: Sequence[Job]) -> None:
        await self.setup()
        for start in range(0, len(jobs), BATCH):
            await self._send(self._url, jobs[start : start + BATCH])

    async def _send(self, queue_url: str, jobs: Sequence[Job], delay: int = 0) -> None:
        entries = [
            {"Id": str(n), "MessageBody": job.encode().decode(), "DelaySeconds": delay}
            for n, job in enumerate(jobs)
        ]
        result = await self._client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if result.get("Failed"):
            raise RuntimeError(f"SQS refused {len(result['Failed'])} job(s): {result['Failed']}")

    async def _receive(self, queue_url: str, limit: int, wait: float, **kw: Any) -> list[Any]:
        result = await self._client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(limit, BATCH)),
            WaitTimeSeconds=max(0, min(20, math.ceil(wait))),
            **kw,
        )
        return list(result.get("Messages", []))

    async def receive(self, limit: int, *, wait: float) -> list[Delivery]:
        await self.setup()
        messages = await self._receive(self._url, limit, wait)
        return [Delivery(job=Job.decode(m["Body"]), handle=m["ReceiptHandle"]) for m in messages]

    async def ack(self, delivery: Delivery) -> None:
        await self._client.delete_message(QueueUrl=self._url, ReceiptHandle=delivery.handle)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        for start in range(0, len(deliveries), BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": delivery.handle}
                for n, delivery in enumerate(deliveries[start : start + BATCH])
            ]
            result = await self._client.delete_message_batch(QueueUrl=self._url, Entries=entries)
            if result.get("Failed"):
                raise RuntimeError(f"SQS kept {len(result['Failed'])} job(s): {result['Failed']}")

    async def release(self, delivery: Delivery) -> None:
        await self._client.change_message_visibility(
            QueueUrl=self._url, ReceiptHandle=delivery.handle, VisibilityTimeout=0
        )

    async def retry(self, delivery: Delivery, *, delay: float, error: str) -> None:
        job = delivery.job
        again = job.but(attempt=job.attempt + 1, last_error=error)
        wait = min(MAX_DELAY_SECONDS, max(0, math.ceil(delay)))
        await self._send(self._url, [again], delay=wait)
        await self.ack(delivery)

    async def dead(self, delivery: Delivery, *, error: str) -> None:
        await self._send(self._dead_url, [delivery.job.but(last_error=error)])
        await self.ack(delivery)

    async def depth(self) -> QueueDepth:
        await self.setup()
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
        main = await self._client.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)
        dead = await self._client.get_queue_attributes(
            QueueUrl=self._dead_url, AttributeNames=names[:1]
        )
        return QueueDepth(
            ready=int(main["Attributes"][names[0]]),
            delayed=int(main["Attributes"][names[1]]),
            dead=int(dead["Attributes"][names[0]]),
        )

    async def _drain_dead(self, settle: Callable[[Job, str], Awaitable[bool]]) -> list[Job]:
        """Receive every dead job (hidden for a while), let `settle(job, receipt)` act on
        each, and make those it left alone visible again at once."""
        await self.setup()
        kept: list[tuple[Job, str]] = []
        while batch := await self._receive(self._dead_url, BATCH, 0, VisibilityTimeout=30):
            for message in batch:
                job = Job.decode(message["Body"])
                if job.last_error is None:  # moved by the redrive policy
                    job = job.but(last_error=UNSETTLED_TOO_OFTEN)
                if not await settle(job, message["ReceiptHandle"]):
                    kept.append((job, message["ReceiptHandle"]))
        for _, receipt in kept:
            with contextlib.suppress(Exception):  # it comes back by itself in 30 s anyway
                await self._client.change_message_visibility(
                    QueueUrl=self._dead_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
        return [job for job, _ in kept]

    async def dead_jobs(self, limit: int = 100) -> list[Job]:
        async def keep(job: Job, receipt: str) -> bool:
            return False

        jobs = sorted(await self._drain_dead(keep), key=lambda j: (j.created_at, j.id))
        return jobs[:limit]

    async def _delete_dead(self, receipt: str) -> None:
        await self._client.delete_message(QueueUrl=self._dead_url, ReceiptHandle=receipt)

    async def retry_dead(self, ids: Sequence[str] | None = None) -> int:
        wanted = None if ids is None else set(ids)
        moved = 0

        async def requeue(job: Job, receipt: str) -> bool:
            nonlocal moved
            if wanted is not None and job.id not in wanted:
                return False
            await self._send(self._url, [job.but(attempt=1)])
            await self._delete_dead(receipt)
            moved += 1
            return True

        await self._drain_dead(requeue)
        return moved

    async def purge_dead(self) -> int:
        purged = 0

        async def delete(job: Job, receipt: str) -> bool:
            nonlocal purged
            await self._delete_dead(receipt)
            purged += 1
            return True

        await self._drain_dead(delete)
        return purged

    async def teardown(self) -> None:
        await self.setup()
        await self._client.delete_queue(QueueUrl=self._url)
        await self._client.delete_queue(QueueUrl=self._dead_url)

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None
