"""SQL for the progress of a group of learners on one roadmap (a team's view): read from the
read models (`roadmap_progress`, `topic_progress`), never from the log, in statements whose
number does not grow with the learners or their histories. Each is a `HotRead` (on
PostgreSQL, straight from the driver: a team's page and its managers' dashboards read it
again and again); none writes.

The learners come as one expanding IN (`user_id IN (...)`), bounded by the caller (a team
has at most a few hundred members), so each statement is one index range scan per learner
on the tables' primary keys, which start with the account.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Integer, bindparam, func, select

from waymark.features.progress.schemas import Status
from waymark.features.progress.tables import roadmap_progress, topic_progress
from waymark.infra.sql.database import Database, HotRead

_r, _t = roadmap_progress, topic_progress
# Typed here, not from the column: a foreign key's type is copied from `roadmaps.id` only once
# that table is imported, and this runs at import (a bind without a type loses its cast).
_ROADMAP = bindparam("roadmap_id", type_=Integer())


def _learners(column: Any) -> Any:
    """`column IN (...)` of the learners given, each bound as an account id."""
    return column.in_(bindparam("account_ids", expanding=True, type_=_r.c.user_id.type))


_ROADMAP_ROWS = HotRead(
    select(_r.c.user_id, _r.c.done, _r.c.learning, _r.c.skipped, _r.c.last_activity_at).where(
        _r.c.roadmap_id == _ROADMAP,
        _learners(_r.c.user_id),
    )
)
_TOPIC_TALLIES = HotRead(
    select(_t.c.topic_key, _t.c.status, func.count().label("n"))
    .where(
        _t.c.roadmap_id == _ROADMAP,
        _learners(_t.c.user_id),
        _t.c.status != "pending",
    )
    .group_by(_t.c.topic_key, _t.c.status)
)
_LEARNER_TALLIES = HotRead(
    select(_t.c.user_id, _t.c.status, func.count().label("n"))
    .where(
        _t.c.roadmap_id == _ROADMAP,
        _learners(_t.c.user_id),
        _t.c.topic_key.in_(bindparam("topic_keys", expanding=True, type_=_t.c.topic_key.type)),
        _t.c.status != "pending",
    )
    .group_by(_t.c.user_id, _t.c.status)
)


class LearnerRow(msgspec.Struct, kw_only=True):
    """A learner's `roadmap_progress` row: counts among the roadmap's current topics."""

    done: int
    learning: int
    skipped: int
    last_activity_at: datetime


async def learner_rows(
    db: Database, roadmap_id: int, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LearnerRow]:
    """Each learner's counts and last activity (learners who never changed a topic of the
    roadmap have no row)."""
    rows = await _ROADMAP_ROWS.fetch_all(
        db, {"roadmap_id": roadmap_id, "account_ids": list(account_ids)}
    )
    return {
        row["user_id"]: LearnerRow(
            done=row["done"],
            learning=row["learning"],
            skipped=row["skipped"],
            last_activity_at=row["last_activity_at"],
        )
        for row in rows
    }


async def topic_tallies(
    db: Database, roadmap_id: int, account_ids: Sequence[uuid.UUID]
) -> dict[tuple[str, Status], int]:
    """How many of the learners have each topic in each status but pending (retired topics
    included: the caller keeps the topics it counts)."""
    rows = await _TOPIC_TALLIES.fetch_all(
        db, {"roadmap_id": roadmap_id, "account_ids": list(account_ids)}
    )
    return {(row["topic_key"], row["status"]): row["n"] for row in rows}


async def learner_tallies(
    db: Database,
    roadmap_id: int,
    account_ids: Sequence[uuid.UUID],
    topic_ids: Sequence[str],
) -> dict[tuple[uuid.UUID, Status], int]:
    """Per learner and status, how many of `topic_ids` they have in it (pending aside)."""
    rows = await _LEARNER_TALLIES.fetch_all(
        db,
        {"roadmap_id": roadmap_id, "account_ids": list(account_ids), "topic_keys": list(topic_ids)},
    )
    return {(row["user_id"], row["status"]): row["n"] for row in rows}
