"""The tools every webhooks use case works with, and the views it answers with."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Self

from waymark.features.teams.service import Teams
from waymark.features.webhooks.repository import DeliveryRow, EndpointRow
from waymark.features.webhooks.schemas import Delivery, Webhook
from waymark.features.webhooks.signing import unseal
from waymark.infra.fetch import Fetcher
from waymark.infra.outbox import Outbox
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.throttle import Throttle


@dataclass(kw_only=True, eq=False)
class WebhookTools:
    db: Database
    clock: Clock
    throttle: Throttle
    outbox: Outbox
    teams: Teams
    fetcher: Fetcher
    public_url: str
    disable_after: int
    """Failed attempts in a row that turn an endpoint off."""
    retention: timedelta
    """How long a finished delivery stays in the log."""
    box: SecretBox
    """Seals the signing secrets at rest (`signing.seal`)."""

    def signing_secrets(self, row: EndpointRow) -> list[str]:
        """The endpoint's secrets that sign now, opened; raises `SecretUnreadable` for one
        not sealed for this endpoint."""
        return [
            unseal(self.box, row.id, role, sealed)
            for role, sealed in row.sealed_secrets(self.clock.now())
        ]

    @classmethod
    def sharing(cls, tools: WebhookTools, **extra: Any) -> Self:
        shared = {field.name: getattr(tools, field.name) for field in fields(WebhookTools)}
        return cls(**shared, **extra)


def webhook_view(row: EndpointRow) -> Webhook:
    return Webhook(
        id=row.id,
        team_id=row.team_id,
        url=row.url,
        description=row.description,
        events=row.event_types,
        enabled=row.enabled,
        failures=row.failures,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
        previous_secret_expires_at=row.previous_expires_at if row.previous_secret else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def delivery_view(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.endpoint_id,
        event_id=row.event_id,
        event=row.event,
        state=row.state,  # type: ignore[arg-type]
        attempts=row.attempts,
        response_status=row.response_status,
        response_excerpt=row.response_excerpt,
        latency_ms=row.latency_ms,
        error=row.error,
        redelivery_of=row.redelivery_of,
        created_at=row.created_at,
        attempted_at=row.attempted_at,
    )
