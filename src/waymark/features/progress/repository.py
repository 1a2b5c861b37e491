"""SQL for learning progress. Every function takes the caller's connection; none commits."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress.schemas import Status
from waymark.features.progress.tables import (
    progress_days,
    progress_events,
    progress_visits,
    roadmap_progress,
    section_progress,
    topic_progress,
)
from waymark.infra.sql.database import HotRead
from waymark.infra.sql.types import object_agg


class EventRow(msgspec.Struct, kw_only=True):
    seq: int
    topic_key: str
    from_status: Status
    to_status: Status
    at: datetime
    roadmap_version: int
    request_id: str | None = None


class RoadmapRow(msgspec.Struct, kw_only=True):
    roadmap_id: int
    roadmap_slug: str
    last_seq: int
    done: int
    learning: int
    skipped: int
    started_at: datetime
    last_activity_at: datetime
    completed_at: datetime | None


class Tallies(msgspec.Struct, kw_only=True):
    """Done, learning and skipped among current topics: the roadmap's and each section's."""

    roadmap: tuple[int, int, int]
    sections: dict[str, tuple[int, int, int]]


class LearnerState(msgspec.Struct, kw_only=True):
    """A learner's read models of one roadmap, as a change or the view starts from them."""

    row: RoadmapRow | None
    seen: int | None
    statuses: dict[str, Status]
    last_day: date | None
    """The account's latest day with a change (any roadmap)."""


_EVENT_COLUMNS = [progress_events.c[name] for name in EventRow.__struct_fields__]
_ROADMAP_COLUMNS = [roadmap_progress.c[name] for name in RoadmapRow.__struct_fields__]


def _learner_state_query() -> Select[Any]:
    """The roadmap's row, the version seen, the latest day and every topic's status, in one
    round trip and one row (the statuses as one JSON object: reading a row per topic cost
    more than the query)."""
    r, t, v, d = roadmap_progress, topic_progress, progress_visits, progress_days
    account: BindParameter[uuid.UUID] = bindparam("account_id", type_=r.c.user_id.type)
    # Not the column's type: a foreign key's is set only once `roadmaps.id` is imported.
    roadmap: BindParameter[int] = bindparam("roadmap_id", type_=Integer())
    anchor = select(literal_column("1").label("one")).subquery("anchor")
    seen = (
        select(v.c.seen_version)
        .where(v.c.user_id == account, v.c.roadmap_id == roadmap)
        .scalar_subquery()
    )
    last_day = select(func.max(d.c.day)).where(d.c.user_id == account).scalar_subquery()
    statuses = (
        select(object_agg(t.c.topic_key, t.c.status))
        .where(t.c.user_id == account, t.c.roadmap_id == roadmap)
        .scalar_subquery()
    )
    return select(
        *_ROADMAP_COLUMNS,
        seen.label("seen_version"),
        last_day.label("last_day"),
        statuses.label("statuses"),
    ).select_from(anchor.outerjoin(r, and_(r.c.user_id == account, r.c.roadmap_id == roadmap)))


_LEARNER_STATE = _learner_state_query()
LEARNER_STATE = HotRead(_LEARNER_STATE)
"""Read by every view of a learner's progress (on PostgreSQL, straight from the driver)."""


def learner_state(row: Mapping[str, Any]) -> LearnerState:
    """The state from the one row of `LEARNER_STATE`."""
    roadmap = None
    if row["roadmap_slug"] is not None:
        roadmap = RoadmapRow(**{name: row[name] for name in RoadmapRow.__struct_fields__})
    return LearnerState(
        row=roadmap,
        seen=row["seen_version"],
        last_day=row["last_day"],
        statuses=row["statuses"],
    )


@functools.cache
def _upsert(dialect: str, table: Table, *, update: tuple[str, ...] = ()) -> Any:
    """INSERT ... ON CONFLICT on the primary key: DO UPDATE of `update` from the row given,
    or DO NOTHING. Built once per dialect and executed with parameters, so SQLAlchemy finds
    it compiled (a statement carrying its values would be keyed and looked up anew)."""
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    keys = [column.name for column in table.primary_key]
    if not update:
        return statement.on_conflict_do_nothing(index_elements=keys)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in update}
    )


_INSERT_EVENT = insert(progress_events)
_COUNTS = ("done", "learning", "skipped")
_TOPIC_UPDATE = ("status", "changed_at", "seq")
_ROADMAP_UPDATE = tuple(name for name in RoadmapRow.__struct_fields__ if name != "roadmap_id")


def _visit(account_id: uuid.UUID, roadmap_id: int, version: int, at: datetime) -> dict[str, Any]:
    return {
        "user_id": account_id,
        "roadmap_id": roadmap_id,
        "seen_version": version,
        "seen_at": at,
    }


class ProgressRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._dialect = conn.dialect.name

    # -- the log -----------------------------------------------------------------------------

    async def append(self, account_id: uuid.UUID, roadmap_id: int, event: EventRow) -> None:
        """Append one event. Raises IntegrityError when another writer took `event.seq`."""
        await self.conn.execute(
            _INSERT_EVENT,
            {"user_id": account_id, "roadmap_id": roadmap_id, **msgspec.structs.asdict(event)},
        )

    async def append_many(
        self, account_id: uuid.UUID, roadmap_id: int, events: Sequence[EventRow]
    ) -> None:
        """Append events in one statement (the driver's executemany)."""
        if events:
            await self.conn.execute(
                _INSERT_EVENT,
                [
                    {"user_id": account_id, "roadmap_id": roadmap_id, **msgspec.structs.asdict(e)}
                    for e in events
                ],
            )

    async def events(self, account_id: uuid.UUID, roadmap_id: int) -> list[EventRow]:
        """The whole log of one roadmap, in order."""
        e = progress_events
        rows = await self.conn.execute(
            select(*_EVENT_COLUMNS)
            .where(e.c.user_id == account_id, e.c.roadmap_id == roadmap_id)
            .order_by(e.c.seq)
        )
        return [EventRow(**row._mapping) for row in rows]

    async def history(
        self, account_id: uuid.UUID, roadmap_id: int, *, before: int | None, limit: int
    ) -> list[EventRow]:
        """Newest first, keyset on seq."""
        e = progress_events
        query = (
            select(*_EVENT_COLUMNS)
            .where(e.c.user_id == account_id, e.c.roadmap_id == roadmap_id)
            .order_by(e.c.seq.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(e.c.seq < before)
        return [EventRow(**row._mapping) for row in await self.conn.execute(query)]

    async def events_page(
        self, account_id: uuid.UUID, roadmap_id: int, *, after: int, upto: int, limit: int
    ) -> list[EventRow]:
        """Oldest first, keyset on seq: those numbered after `after`, up to `upto`."""
        e = progress_events
        rows = await self.conn.execute(
            select(*_EVENT_COLUMNS)
            .where(
                e.c.user_id == account_id,
                e.c.roadmap_id == roadmap_id,
                e.c.seq > after,
                e.c.seq <= upto,
            )
            .order_by(e.c.seq)
            .limit(limit)
        )
        return [EventRow(**row._mapping) for row in rows]

    async def log_ends(self, account_id: uuid.UUID) -> dict[int, int]:
        """The last number of each of the account's logs, by roadmap row id."""
        e = progress_events
        rows = await self.conn.execute(
            select(e.c.roadmap_id, func.max(e.c.seq).label("last"))
            .where(e.c.user_id == account_id)
            .group_by(e.c.roadmap_id)
            .order_by(e.c.roadmap_id)
        )
        return {row.roadmap_id: row.last for row in rows}

    async def logs(self, account_id: uuid.UUID | None) -> list[tuple[uuid.UUID, int]]:
        """Every (account, roadmap) with a log, of one account or all."""
        e = progress_events
        query = select(e.c.user_id, e.c.roadmap_id).distinct().order_by(e.c.user_id, e.c.roadmap_id)
        if account_id is not None:
            query = query.where(e.c.user_id == account_id)
        return [(row.user_id, row.roadmap_id) for row in await self.conn.execute(query)]

    async def change_times(self, account_id: uuid.UUID) -> list[datetime]:
        e = progress_events
        rows = await self.conn.execute(select(e.c.at).where(e.c.user_id == account_id))
        return [row.at for row in rows]

    # -- the projections ---------------------------------------------------------------------

    async def state(self, account_id: uuid.UUID, roadmap_id: int) -> LearnerState:
        """What a change starts from, read in its transaction (one round trip)."""
        result = await self.conn.execute(
            _LEARNER_STATE, {"account_id": account_id, "roadmap_id": roadmap_id}
        )
        return learner_state(result.one()._mapping)

    async def roadmap(self, account_id: uuid.UUID, roadmap_id: int) -> RoadmapRow | None:
        r = roadmap_progress
        row = (
            await self.conn.execute(
                select(*_ROADMAP_COLUMNS).where(
                    r.c.user_id == account_id, r.c.roadmap_id == roadmap_id
                )
            )
        ).first()
        return RoadmapRow(**row._mapping) if row else None

    async def roadmaps(self, account_id: uuid.UUID) -> list[RoadmapRow]:
        r = roadmap_progress
        rows = await self.conn.execute(
            select(*_ROADMAP_COLUMNS)
            .where(r.c.user_id == account_id)
            .order_by(r.c.last_activity_at.desc(), r.c.roadmap_slug)
        )
        return [RoadmapRow(**row._mapping) for row in rows]

    async def accounts_of_roadmap(self, roadmap_id: int) -> list[uuid.UUID]:
        r = roadmap_progress
        rows = await self.conn.execute(select(r.c.user_id).where(r.c.roadmap_id == roadmap_id))
        return [row.user_id for row in rows]

    async def statuses(self, account_id: uuid.UUID, roadmap_id: int) -> dict[str, Status]:
        t = topic_progress
        rows = await self.conn.execute(
            select(t.c.topic_key, t.c.status).where(
                t.c.user_id == account_id, t.c.roadmap_id == roadmap_id
            )
        )
        return {row.topic_key: row.status for row in rows}

    async def set_status(
        self,
        account_id: uuid.UUID,
        roadmap_id: int,
        topic_key: str,
        status: Status,
        *,
        at: datetime,
        seq: int,
    ) -> None:
        statement = _upsert(self._dialect, topic_progress, update=_TOPIC_UPDATE)
        await self.conn.execute(
            statement,
            {
                "user_id": account_id,
                "roadmap_id": roadmap_id,
                "topic_key": topic_key,
                "status": status,
                "changed_at": at,
                "seq": seq,
            },
        )

    async def save_roadmap(
        self, account_id: uuid.UUID, row: RoadmapRow, *, tallies: Tallies, sections: Iterable[str]
    ) -> None:
        """Write the roadmap's projection and the tallies of `sections` (all of them after a
        recount, the one that changed after a status change)."""
        values = msgspec.structs.asdict(row)
        values["done"], values["learning"], values["skipped"] = tallies.roadmap
        await self.conn.execute(
            _upsert(self._dialect, roadmap_progress, update=_ROADMAP_UPDATE),
            {"user_id": account_id, **values},
        )
        rows = [
            {
                "user_id": account_id,
                "roadmap_id": row.roadmap_id,
                "section_key": key,
                **dict(zip(_COUNTS, tallies.sections.get(key, (0, 0, 0)), strict=True)),
            }
            for key in sections
        ]
        if rows:
            await self.conn.execute(
                _upsert(self._dialect, section_progress, update=_COUNTS),
                rows[0] if len(rows) == 1 else rows,
            )

    async def section_tallies(
        self, account_id: uuid.UUID, roadmap_id: int
    ) -> dict[str, tuple[int, int, int]]:
        s = section_progress
        rows = await self.conn.execute(
            select(s.c.section_key, s.c.done, s.c.learning, s.c.skipped).where(
                s.c.user_id == account_id, s.c.roadmap_id == roadmap_id
            )
        )
        return {row.section_key: (row.done, row.learning, row.skipped) for row in rows}

    async def mark_day(self, account_id: uuid.UUID, day: date) -> None:
        await self.conn.execute(
            _upsert(self._dialect, progress_days), {"user_id": account_id, "day": day}
        )

    async def days(self, account_id: uuid.UUID) -> list[date]:
        d = progress_days
        rows = await self.conn.execute(
            select(d.c.day).where(d.c.user_id == account_id).order_by(d.c.day)
        )
        return [row.day for row in rows]

    async def forget(self, account_id: uuid.UUID, roadmap_id: int) -> None:
        """Delete one log's projections (before replaying it)."""
        for table in (topic_progress, section_progress, roadmap_progress):
            await self.conn.execute(
                delete(table).where(table.c.user_id == account_id, table.c.roadmap_id == roadmap_id)
            )

    async def forget_sections(self, account_id: uuid.UUID, roadmap_id: int) -> None:
        s = section_progress
        await self.conn.execute(
            delete(s).where(s.c.user_id == account_id, s.c.roadmap_id == roadmap_id)
        )

    async def forget_days(self, account_id: uuid.UUID) -> None:
        await self.conn.execute(delete(progress_days).where(progress_days.c.user_id == account_id))

    async def put_statuses(
        self, account_id: uuid.UUID, roadmap_id: int, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if rows:
            await self.conn.execute(
                insert(topic_progress),
                [{"user_id": account_id, "roadmap_id": roadmap_id, **row} for row in rows],
            )

    # -- visits ------------------------------------------------------------------------------

    async def seen_version(self, account_id: uuid.UUID, roadmap_id: int) -> int | None:
        v = progress_visits
        return await self.conn.scalar(
            select(v.c.seen_version).where(v.c.user_id == account_id, v.c.roadmap_id == roadmap_id)
        )

    async def see(self, account_id: uuid.UUID, roadmap_id: int, version: int, at: datetime) -> None:
        await self.conn.execute(
            _upsert(self._dialect, progress_visits, update=("seen_version", "seen_at")),
            _visit(account_id, roadmap_id, version, at),
        )

    async def see_if_never(
        self, account_id: uuid.UUID, roadmap_id: int, version: int, at: datetime
    ) -> None:
        await self.conn.execute(
            _upsert(self._dialect, progress_visits), _visit(account_id, roadmap_id, version, at)
        )


async def count_events(conn: AsyncConnection, account_id: uuid.UUID) -> int:
    e = progress_events
    return int(await conn.scalar(select(func.count()).where(e.c.user_id == account_id)) or 0)
