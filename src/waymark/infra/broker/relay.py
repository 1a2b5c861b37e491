"""The outbox relay when jobs run on a broker: it publishes what it claims instead of running it.

The outbox stays the source of truth. A claimed batch is published as jobs; only once the
broker has confirmed every one are the batch's rows marked done (payloads that carry secrets
erased, as in-process). If publishing fails, the rows are retried with the outbox's backoff,
like a failed handler; a batch published but not marked done (the relay died in between) is
published again when its lease runs out: workers skip a job whose key is already processed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from waymark.infra.outbox import HandlerRegistry, OutboxMessage, OutboxRelay
from waymark.infra.outbox.relay import DELIVERED
from waymark.infra.sql.database import Database
from waymark.kernel.broker import Broker, Job

log = structlog.get_logger(__name__)


def job_of(message: OutboxMessage) -> Job:
    return Job(
        id=message.id,
        kind=message.kind,
        payload=message.payload,
        correlation_id=message.correlation_id,
        traceparent=message.traceparent,
        created_at=message.created_at.timestamp(),
    )


class PublishingRelay(OutboxRelay):
    def __init__(
        self, db: Database, handlers: HandlerRegistry, *, broker: Broker, **options: Any
    ) -> None:
        super().__init__(db, handlers, **options)
        self.broker = broker

    async def _handle(
        self, messages: list[OutboxMessage], clock: Callable[[], datetime]
    ) -> list[Any]:
        if not messages:
            return []
        try:
            async with asyncio.timeout(self.handler_timeout):
                await self.broker.publish([job_of(m) for m in messages])
        except Exception as exc:
            log.warning("outbox.publish_failed", count=len(messages), error=repr(exc))
            now = clock()
            return await asyncio.gather(
                *(self._failed(m, exc, now) for m in messages), return_exceptions=True
            )
        return [DELIVERED] * len(messages)
