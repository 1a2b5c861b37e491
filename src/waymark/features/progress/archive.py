"""A learner's logs of status changes, exported and restored.

**Export** gives each log whole (retired topics' changes included) with the version the
learner last marked seen, in pages, so the account's export can stream a long history
without holding it. Each log is read up to the number it had when the export reached it.

**Restore** brings an exported log into an account, topic by topic, never rewriting what is
there (the log is append-only):

- a topic with no history here takes the export's changes;
- a topic whose history here is the start of the export's takes the rest (restoring an
  older export of the same account, or the same one twice, adds nothing);
- a topic whose history here already holds the export's (or differs from it) is kept as it
  is, and the latter reported;
- a topic no version of the roadmap here ever had is reported, not restored.

Changes are told apart by (from, to, when). The added ones are appended in the export's
order with the next numbers, keep their time and roadmap version (at most the current one
here), and the read models are replayed from the log in the same transaction; the days of
activity follow. So restoring the same document twice changes nothing the second time, and
an export of an account restored from an export reads as the original (a test checks it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress import rules
from waymark.features.progress.messages import PROGRESS_RESTORED, ProgressRestored
from waymark.features.progress.projections import Projections
from waymark.features.progress.repository import EventRow, ProgressRepository
from waymark.features.progress.schemas import (
    ExportedEvent,
    ExportedLog,
    ProgressRestoreReport,
)
from waymark.features.progress.turns import in_turn
from waymark.features.roadmaps.schemas import CurrentRoadmap
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.context import current_request_id
from waymark.kernel.errors import FieldError, NotFound, ValidationFailed
from waymark.kernel.identity import Account

PAGE = 1000

ChangeKey = tuple[str, str, datetime]


class LogHead(msgspec.Struct, frozen=True, kw_only=True):
    """One log to export: its roadmap, the last number it has, the version last seen."""

    roadmap_id: int
    slug: str
    last_seq: int
    seen_version: int | None


class ProgressArchive:
    def __init__(
        self,
        *,
        db: Database,
        catalog: RoadmapCatalog,
        projections: Projections,
        outbox: Outbox,
        clock: Clock,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.projections = projections
        self.outbox = outbox
        self.clock = clock

    # -- export ------------------------------------------------------------------------------

    async def heads(self, account_id: uuid.UUID) -> list[LogHead]:
        """The account's logs, as they stand now (those of a roadmap since deleted are gone
        with it)."""
        async with self.db.read() as conn:
            repo = ProgressRepository(conn)
            ends = await repo.log_ends(account_id)
            seen = {rid: await repo.seen_version(account_id, rid) for rid in ends}
        heads = []
        for roadmap_id, last_seq in ends.items():
            roadmap = await self.catalog.current_by_id(roadmap_id)
            if roadmap is not None:
                heads.append(
                    LogHead(
                        roadmap_id=roadmap_id,
                        slug=roadmap.slug,
                        last_seq=last_seq,
                        seen_version=seen[roadmap_id],
                    )
                )
        return sorted(heads, key=lambda head: head.slug)

    async def events(
        self, account_id: uuid.UUID, head: LogHead, *, page: int = PAGE
    ) -> AsyncIterator[list[ExportedEvent]]:
        """One log's changes, oldest first, `page` at a time (each page one short read)."""
        after = 0
        while after < head.last_seq:
            async with self.db.read() as conn:
                rows = await ProgressRepository(conn).events_page(
                    account_id, head.roadmap_id, after=after, upto=head.last_seq, limit=page
                )
            if not rows:
                return
            yield [_exported(row) for row in rows]
            after = rows[-1].seq

    # -- restore -----------------------------------------------------------------------------

    async def restore(
        self, account: Account, logs: Sequence[ExportedLog], *, path: str = "progress"
    ) -> ProgressRestoreReport:
        """Bring exported logs into the account (see the module's docstring). The whole
        input is checked first (422 naming `path[i].events[j].field`, nothing written);
        each roadmap's log is then restored in one transaction."""
        _check(logs, path)
        report = ProgressRestoreReport()
        added = False
        for log in logs:
            try:
                roadmap = await self.catalog.current(log.roadmap, fresh=True)
            except NotFound:
                report.unknown_roadmaps.append(log.roadmap)
                continue
            known = await self.catalog.topic_ids_ever(roadmap.id)
            part = await in_turn(
                self.db,
                partial(self._restore, account=account, roadmap=roadmap, log=log, known=known),
                f"roadmap {roadmap.slug!r}",
            )
            report.events_added += part.events_added
            report.events_unchanged += part.events_unchanged
            report.topics_kept += part.topics_kept
            report.unknown_topics += part.unknown_topics
            added = added or part.events_added > 0
        if added:
            async with self.db.transaction() as conn:
                await self.projections.redo_days(conn, account.id, ZoneInfo(account.time_zone))
        return report

    async def _restore(
        self,
        conn: AsyncConnection,
        *,
        account: Account,
        roadmap: CurrentRoadmap,
        log: ExportedLog,
        known: set[str],
    ) -> ProgressRestoreReport:
        repo = ProgressRepository(conn)
        present: dict[str, list[ChangeKey]] = {}
        last_seq = 0
        for row in await repo.events(account.id, roadmap.id):
            present.setdefault(row.topic_key, []).append(_key(row))
            last_seq = row.seq
        given: dict[str, list[ExportedEvent]] = {}
        for event in log.events:
            given.setdefault(event.topic_id, []).append(event)
        report = ProgressRestoreReport()
        adding: list[ExportedEvent] = []
        for topic, events in given.items():
            where = f"{roadmap.slug}/{topic}"
            if topic not in known:
                report.unknown_topics.append(where)
                continue
            here, there = present.get(topic, []), [_key(e) for e in events]
            if there[: len(here)] == here:
                adding += events[len(here) :]
                report.events_unchanged += len(here)
            elif here[: len(there)] == there:
                report.events_unchanged += len(there)
            else:
                report.topics_kept.append(where)
        adding.sort(key=lambda event: event.seq)
        rows = [
            EventRow(
                seq=last_seq + number,
                topic_key=event.topic_id,
                from_status=event.from_status,
                to_status=event.to_status,
                at=event.at,
                roadmap_version=min(event.roadmap_version, roadmap.version),
                request_id=current_request_id(),
            )
            for number, event in enumerate(adding, start=1)
        ]
        await repo.append_many(account.id, roadmap.id, rows)
        last_seq += len(rows)
        report.events_added = len(adding)
        if adding:
            await self.projections.replay(conn, account.id, roadmap)
            statuses = await repo.statuses(account.id, roadmap.id)
            done, learning, skipped = rules.tally(roadmap, statuses).roadmap
            await self.outbox.publish(
                conn,
                PROGRESS_RESTORED,
                ProgressRestored(
                    account_id=str(account.id),
                    roadmap=roadmap.slug,
                    roadmap_version=roadmap.version,
                    events_added=len(adding),
                    last_seq=last_seq,
                    done=done,
                    learning=learning,
                    skipped=skipped,
                    total=len(roadmap.topic_ids()),
                    at=self.clock.now(),
                ),
            )
        await self._restore_seen(repo, account.id, roadmap, log, bool(adding))
        return report

    async def _restore_seen(
        self,
        repo: ProgressRepository,
        account_id: uuid.UUID,
        roadmap: CurrentRoadmap,
        log: ExportedLog,
        added: bool,
    ) -> None:
        """The version last seen moves forward only; with none given, restored changes mark
        the current one seen if nothing was, as a change made here does."""
        now = self.clock.now()
        if log.seen_version is None:
            if added:
                await repo.see_if_never(account_id, roadmap.id, roadmap.version, now)
            return
        seen = min(log.seen_version, roadmap.version)
        here = await repo.seen_version(account_id, roadmap.id)
        if here is None or here < seen:
            await repo.see(account_id, roadmap.id, seen, now)


def _check(logs: Sequence[ExportedLog], path: str) -> None:
    problems: list[FieldError] = []
    slugs: set[str] = set()
    for index, log in enumerate(logs):
        if log.roadmap in slugs:
            problems.append(FieldError(f"{path}[{index}].roadmap", "the same roadmap twice"))
        slugs.add(log.roadmap)
        problem = rules.chain_problem(log.events)
        if problem is not None:
            problems.append(FieldError(f"{path}[{index}].events{problem.field}", problem.message))
    if problems:
        raise ValidationFailed(problems)


def _key(event: EventRow | ExportedEvent) -> ChangeKey:
    topic = event.topic_key if isinstance(event, EventRow) else event.topic_id
    return (topic, f"{event.from_status}>{event.to_status}", event.at.astimezone(UTC))


def _exported(row: EventRow) -> ExportedEvent:
    return ExportedEvent(
        seq=row.seq,
        topic_id=row.topic_key,
        from_status=row.from_status,
        to_status=row.to_status,
        at=row.at,
        roadmap_version=row.roadmap_version,
    )
