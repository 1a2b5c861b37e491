"""Webhooks: a team's endpoints and the log of what was sent to them.

- `webhook_endpoints`: one HTTPS URL of a team, the event types it takes (a JSON list), its
  signing secret and, during a rotation, the previous one until `previous_expires_at`.
  Both are sealed (AES-256-GCM, `infra.security.secret_box`), bound to the endpoint's id and
  the column, so a sealed value copied to another row or column does not open (`signing.py`).
  `failures` counts failed attempts
  in a row; past the cap the endpoint is disabled (`disabled_at`, `disabled_reason`).
  An endpoint goes with its team (cascade).
- `webhook_deliveries`: one event sent (or to be sent) to one endpoint: the exact body, and
  the last attempt's outcome (status, latency, a capped excerpt of the answer, the error).
  `event_id` is the event's (the same in a redelivery, whose `redelivery_of` names the
  delivery it repeats); `id` is the delivery's, sent as `Waymark-Delivery`, stable across
  retries, for receivers to drop duplicates. Deliveries go with their endpoint.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
    true,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

SEALED = "AES-256-GCM sealed (infra.security.secret_box), bound to this row and column."

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", String(2048), nullable=False),
    Column("description", String(200), nullable=False, server_default=""),
    Column("events", Text, nullable=False, comment="JSON list of event types."),
    Column("secret", LargeBinary, nullable=False, comment=SEALED),
    Column("previous_secret", LargeBinary, nullable=True, comment=SEALED),
    Column("previous_expires_at", UtcDateTime(), nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("failures", Integer, nullable=False, server_default="0", comment="In a row."),
    Column("disabled_at", UtcDateTime(), nullable=True),
    Column("disabled_reason", String(200), nullable=True),
    Column("created_by", Uuid, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "endpoint_id",
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", Uuid, nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", Text, nullable=False, comment="The exact JSON sent."),
    Column("state", String(16), nullable=False, comment="pending, succeeded, failed."),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("response_status", Integer, nullable=True),
    Column("response_excerpt", String(1024), nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("error", String(400), nullable=True),
    Column("redelivery_of", Uuid, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=True),
)
Index(
    "ix_webhook_deliveries_endpoint",
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.created_at,
)
