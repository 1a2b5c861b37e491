"""SQL for webhooks. Every function takes the caller's connection; none commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.webhooks.signing import Role
from waymark.features.webhooks.tables import webhook_deliveries, webhook_endpoints

_e, _d = webhook_endpoints, webhook_deliveries


class EndpointRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    team_id: uuid.UUID
    url: str
    description: str
    events: str
    """JSON list."""
    secret: bytes
    """Sealed (`signing.seal`), as `previous_secret`."""
    previous_secret: bytes | None
    previous_expires_at: datetime | None
    enabled: bool
    failures: int
    disabled_at: datetime | None
    disabled_reason: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def event_types(self) -> list[str]:
        return msgspec.json.decode(self.events, type=list[str])

    def sealed_secrets(self, now: datetime) -> list[tuple[Role, bytes]]:
        """The secrets that sign a delivery now, sealed: the current one, and the previous
        one until its time is up."""
        current: list[tuple[Role, bytes]] = [("secret", self.secret)]
        if self.previous_secret and self.previous_expires_at and now < self.previous_expires_at:
            current.append(("previous_secret", self.previous_secret))
        return current


class DeliveryRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event: str
    body: str
    state: str
    attempts: int
    response_status: int | None
    response_excerpt: str | None
    latency_ms: int | None
    error: str | None
    redelivery_of: uuid.UUID | None
    created_at: datetime
    attempted_at: datetime | None


_ENDPOINT_COLUMNS = [_e.c[name] for name in EndpointRow.__struct_fields__]
_DELIVERY_COLUMNS = [_d.c[name] for name in DeliveryRow.__struct_fields__]


class WebhookRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- endpoints -----------------------------------------------------------------------------

    async def insert_endpoint(self, values: dict[str, Any]) -> None:
        await self.conn.execute(insert(_e).values(values))

    async def count_endpoints(self, team_id: uuid.UUID) -> int:
        found = await self.conn.execute(select(func.count()).where(_e.c.team_id == team_id))
        return int(found.scalar_one())

    async def endpoints(self, team_id: uuid.UUID) -> list[EndpointRow]:
        rows = await self.conn.execute(
            select(*_ENDPOINT_COLUMNS).where(_e.c.team_id == team_id).order_by(_e.c.created_at)
        )
        return [EndpointRow(**row._mapping) for row in rows]

    async def endpoint(
        self, endpoint_id: uuid.UUID, team_id: uuid.UUID | None = None
    ) -> EndpointRow | None:
        """The endpoint (of `team_id`, when given)."""
        query = select(*_ENDPOINT_COLUMNS).where(_e.c.id == endpoint_id)
        if team_id is not None:
            query = query.where(_e.c.team_id == team_id)
        row = (await self.conn.execute(query)).first()
        return None if row is None else EndpointRow(**row._mapping)

    async def update_endpoint(self, endpoint_id: uuid.UUID, **values: Any) -> None:
        await self.conn.execute(update(_e).where(_e.c.id == endpoint_id).values(**values))

    async def delete_endpoint(self, endpoint_id: uuid.UUID) -> None:
        await self.conn.execute(delete(_e).where(_e.c.id == endpoint_id))

    async def subscribed(self, team_ids: Sequence[uuid.UUID], event: str) -> list[EndpointRow]:
        """The enabled endpoints of these teams that take `event`."""
        if not team_ids:
            return []
        rows = await self.conn.execute(
            select(*_ENDPOINT_COLUMNS)
            .where(_e.c.team_id.in_(list(team_ids)), _e.c.enabled.is_(True))
            .order_by(_e.c.created_at)
        )
        found = [EndpointRow(**row._mapping) for row in rows]
        return [row for row in found if event in row.event_types]

    async def failed(self, endpoint_id: uuid.UUID) -> int:
        """Count one more failure in a row; the count now."""
        found = await self.conn.execute(
            update(_e)
            .where(_e.c.id == endpoint_id)
            .values(failures=_e.c.failures + 1)
            .returning(_e.c.failures)
        )
        return int(found.scalar_one_or_none() or 0)

    # -- deliveries ----------------------------------------------------------------------------

    async def insert_delivery(self, values: dict[str, Any]) -> None:
        await self.conn.execute(insert(_d).values(values))

    async def delivery(
        self, delivery_id: uuid.UUID, endpoint_id: uuid.UUID | None = None
    ) -> DeliveryRow | None:
        query = select(*_DELIVERY_COLUMNS).where(_d.c.id == delivery_id)
        if endpoint_id is not None:
            query = query.where(_d.c.endpoint_id == endpoint_id)
        row = (await self.conn.execute(query)).first()
        return None if row is None else DeliveryRow(**row._mapping)

    async def deliveries(self, endpoint_id: uuid.UUID, limit: int) -> list[DeliveryRow]:
        """Newest first."""
        rows = await self.conn.execute(
            select(*_DELIVERY_COLUMNS)
            .where(_d.c.endpoint_id == endpoint_id)
            .order_by(_d.c.created_at.desc(), _d.c.id.desc())
            .limit(limit)
        )
        return [DeliveryRow(**row._mapping) for row in rows]

    async def delete_deliveries_before(self, cutoff: datetime) -> int:
        """Finished deliveries (not pending) logged before `cutoff`."""
        result = await self.conn.execute(
            delete(_d).where(_d.c.created_at < cutoff, _d.c.state != "pending")
        )
        return int(result.rowcount)

    async def update_delivery(self, delivery_id: uuid.UUID, **values: Any) -> None:
        await self.conn.execute(update(_d).where(_d.c.id == delivery_id).values(**values))
