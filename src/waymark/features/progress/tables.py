"""Learning progress: the log of status changes (the source of truth), and the read models
projected from it in the same transaction as each change.

- `progress_events`: append-only, numbered per account and roadmap (`seq` 1, 2, ...). The
  unique (account, roadmap, seq) is where concurrent writers meet: two that read the same
  last number both try to write the next, and the later one fails and starts again.
- `topic_progress`: each topic's latest status (a topic never changed is pending and has no
  row); retired topics keep theirs.
- `roadmap_progress` and `section_progress`: counts of done, learning and skipped among the
  roadmap's *current* topics, last activity, completion.
- `progress_days`: the days (in the account's time zone) with at least one change, for
  streaks.
- `progress_visits`: the roadmap version a learner last saw (what changed since); not a
  projection: it records an action of its own.
- `progress_digests`: the weekly digests dealt with, one row per learner and week (the date
  of the digest's slot in the learner's zone), written in the transaction that queues the
  mail (or finds nothing to tell): what makes each learner's digest go once a week.

`waymark progress rebuild` recomputes every projection from the log.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

STATUSES_SQL = "('pending', 'learning', 'done', 'skipped')"


def _account() -> Column[object]:
    return Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


def _roadmap() -> Column[object]:
    return Column("roadmap_id", ForeignKey("roadmaps.id", ondelete="CASCADE"), primary_key=True)


progress_events = Table(
    "progress_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("roadmap_id", ForeignKey("roadmaps.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False, comment="1, 2, ... per account and roadmap"),
    Column("topic_key", String(129), nullable=False),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("roadmap_version", Integer, nullable=False),
    Column("request_id", String(128)),
    UniqueConstraint("user_id", "roadmap_id", "seq"),
    CheckConstraint(f"from_status IN {STATUSES_SQL}", name="from_status"),
    CheckConstraint(f"to_status IN {STATUSES_SQL}", name="to_status"),
    CheckConstraint("from_status <> to_status", name="changes"),
    CheckConstraint("seq >= 1", name="seq"),
)
Index("ix_progress_events_user_id_at", progress_events.c.user_id, progress_events.c.at)

topic_progress = Table(
    "topic_progress",
    metadata,
    _account(),
    _roadmap(),
    Column("topic_key", String(129), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("changed_at", UtcDateTime(), nullable=False),
    Column("seq", Integer, nullable=False, comment="The event that set it."),
    CheckConstraint(f"status IN {STATUSES_SQL}", name="status"),
)

roadmap_progress = Table(
    "roadmap_progress",
    metadata,
    _account(),
    _roadmap(),
    Column("roadmap_slug", String(64), nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("learning", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("last_activity_at", UtcDateTime(), nullable=False),
    Column(
        "completed_at", UtcDateTime(), comment="Set while every current topic is done or skipped."
    ),
)

section_progress = Table(
    "section_progress",
    metadata,
    _account(),
    _roadmap(),
    Column("section_key", String(64), primary_key=True),
    Column("done", Integer, nullable=False),
    Column("learning", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
)

progress_days = Table(
    "progress_days",
    metadata,
    _account(),
    Column("day", Date, primary_key=True, comment="A day with a change, in the account's zone."),
)
# The streak roll-over reads the last few days of every learner, hourly.
Index("ix_progress_days_day", progress_days.c.day)

progress_visits = Table(
    "progress_visits",
    metadata,
    _account(),
    _roadmap(),
    Column("seen_version", Integer, nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
)

progress_digests = Table(
    "progress_digests",
    metadata,
    _account(),
    Column("week", Date, primary_key=True, comment="The slot's date in the learner's zone."),
    Column("slot_at", UtcDateTime(), nullable=False, comment="The slot's instant."),
    Column("mailed", Boolean, nullable=False, comment="False: no progress that week."),
    Column("recorded_at", UtcDateTime(), nullable=False),
)
