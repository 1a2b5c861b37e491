"""The transactional outbox: work recorded in the same transaction as the change that caused it.

One row per message (a mail to send, later a job to run or a domain event to publish). A relay
claims due rows with a lease, runs the handler for their `kind` after the claiming transaction
has committed, and marks them `done`, schedules a retry, or moves them to `dead`.

- `id` is a UUIDv7 in text form: time-ordered, and the stable id a handler uses to make its
  effect idempotent (a mail's Message-ID, a job's idempotency key).
- `attempts` counts claims, so a message whose handler crashes the process still runs out of
  attempts; it is also the fencing token that keeps a relay whose lease ran out from
  overwriting the outcome recorded by the relay that took over.
- `dedupe_key` is unique while the row exists: a second enqueue with the same key is dropped.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table, Text

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

PENDING = "pending"
DONE = "done"
DEAD = "dead"
STATES = (PENDING, DONE, DEAD)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(64), nullable=False, comment="What the message is, e.g. mail.send."),
    Column("payload", Text, nullable=False, comment="JSON, encoded by msgspec."),
    Column("correlation_id", String(128), comment="The request or job that caused the message."),
    Column("traceparent", String(55), comment="That request's W3C trace context, if any."),
    Column("dedupe_key", String(200), unique=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("available_at", UtcDateTime(), nullable=False, comment="Not claimed before this."),
    Column("locked_until", UtcDateTime(), comment="The lease of the relay running it."),
    Column("locked_by", String(64)),
    Column("last_error", Text),
    Column("processed_at", UtcDateTime(), comment="When it became done or dead."),
    CheckConstraint("state IN ('pending', 'done', 'dead')", name="state"),
    CheckConstraint("attempts >= 0", name="attempts"),
)

Index("ix_outbox_state_available_at", outbox.c.state, outbox.c.available_at)
