"""The scheduler's one table: a row per scheduled job and slot it has dealt with.

`scheduled_slots` has the primary key (job, slot_at). A scheduler inserts the row of a slot in
the same transaction as the outbox message that runs it, with ON CONFLICT DO NOTHING: of any
number of schedulers that reach the same slot, one inserts it and enqueues; the others find it
there and enqueue nothing. A slot skipped by the catch-up policy gets a row too (state
`skipped`, no message), so the next tick knows it was dealt with. The latest row of a job is
its last run; `message_id` leads to the outbox row, whose state says how the run went.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, String, Table

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

ENQUEUED = "enqueued"
SKIPPED = "skipped"

scheduled_slots = Table(
    "scheduled_slots",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("slot_at", UtcDateTime(), primary_key=True, comment="The instant the slot fires."),
    Column("state", String(16), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("message_id", String(36), comment="The outbox message that runs it (enqueued)."),
    CheckConstraint("state IN ('enqueued', 'skipped')", name="state"),
)
