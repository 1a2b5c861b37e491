"""Webhooks' outbox handlers.

- Each event of `schemas.EVENT_TYPES` is subscribed to by a transactional handler (in the
  relay's transaction, exactly once) that finds the teams the event is about (its
  `team_id`; for a learner's progress, the learner's teams that follow the roadmap, read in
  that transaction) and logs a delivery for each endpoint taking it (`Delivering.fan_out`).
- `webhooks.deliver` sends one delivery (at least once; the delivery id is the receivers'
  key), failing so that the outbox retries with backoff.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.teams.service import Teams
from waymark.features.webhooks.delivering import Delivering
from waymark.features.webhooks.messages import DELIVER, Deliver
from waymark.features.webhooks.schemas import EVENT_TYPES
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure


class WebhookJobs:
    def __init__(self, delivering: Delivering, teams: Teams) -> None:
        self.delivering = delivering
        self.teams = teams

    async def event(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        event = message.kind.split(">", 1)[0]
        data = _decode(message, dict[str, Any])
        team_ids = await self._teams_of(conn, data)
        await self.delivering.fan_out(conn, event, uuid.UUID(message.id), team_ids, data)

    async def _teams_of(self, conn: AsyncConnection, data: dict[str, Any]) -> list[uuid.UUID]:
        try:
            if "team_id" in data:
                return [uuid.UUID(str(data["team_id"]))]
            learner = uuid.UUID(str(data["account_id"]))
            return await self.teams.asking.following(conn, learner, str(data["roadmap"]))
        except (KeyError, ValueError) as exc:
            raise PermanentFailure(f"an event about no team: {exc}") from exc

    async def deliver(self, message: OutboxMessage) -> None:
        job = _decode(message, Deliver)
        try:
            delivery_id = uuid.UUID(job.delivery_id)
        except ValueError as exc:
            raise PermanentFailure(f"bad delivery id: {exc}") from exc
        await self.delivering.deliver(delivery_id)

    def register(self, handlers: HandlerRegistry) -> None:
        for event in EVENT_TYPES:
            handlers.subscribe(event, "webhooks.fan-out", self.event, transactional=True)
        handlers.register(DELIVER, self.deliver)


def _decode(message: OutboxMessage, type_: Any) -> Any:
    try:
        return message.decode(type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
