"""Learning progress: one entry point per use case.

A status change appends one event to the learner's log of that roadmap and updates the read
models in the same transaction (the topic's status, the roadmap's and its section's counts,
the day of activity), and publishes `progress.topic_status_changed` (and
`progress.roadmap_completed` when the last topic is done or skipped) through the outbox.
Setting the status a topic already has writes nothing.

Concurrent writers of one learner's log serialize on the event number: each reads the last
one and writes the next, and the unique (account, roadmap, seq) refuses all but one; the
others run their transaction again from the start, reading what the winner wrote (nothing
waits holding a lock across awaits). That retry is why a change owns its transaction.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress import rules
from waymark.features.progress.messages import (
    ROADMAP_COMPLETED,
    TOPIC_STATUS_CHANGED,
    RoadmapCompleted,
    TopicStatusChanged,
)
from waymark.features.progress.repository import EventRow, ProgressRepository, RoadmapRow
from waymark.features.progress.schemas import (
    BatchItem,
    HistoryEntry,
    RoadmapProgress,
    RoadmapProgressSummary,
    SectionProgress,
    Status,
    Streak,
    TopicStatusResult,
)
from waymark.features.roadmaps.schemas import CurrentRoadmap
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.context import current_request_id
from waymark.kernel.errors import Conflict, NotFound, PreconditionFailed
from waymark.kernel.identity import Account

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 50
"""Tries of a change that keeps losing the race for the next event number: one writer of a
log wins each round, so N writers at once need N rounds. Between tries a writer waits a
random, growing while (holding no connection), so the herd spreads out."""
BACKOFF_CAP = 0.2


def etag(last_seq: int, version: int, seen: int | None) -> str:
    """The version of a learner's view of a roadmap: their log, the roadmap's content, and
    what they marked seen."""
    return f'"p{last_seq}.v{version}.s{seen or 0}"'


class ProgressService:
    def __init__(
        self, *, db: Database, catalog: RoadmapCatalog, outbox: Outbox, clock: Clock
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.outbox = outbox
        self.clock = clock

    # -- changes -----------------------------------------------------------------------------

    async def set_status(
        self,
        account: Account,
        slug: str,
        topic_id: str,
        status: Status,
        *,
        if_match: str | None = None,
    ) -> tuple[TopicStatusResult, str]:
        """Set one topic's status; the result and the view's new ETag."""
        results, tag = await self.set_statuses(
            account, slug, [BatchItem(topic_id=topic_id, status=status)], if_match=if_match
        )
        return results[0], tag

    async def set_statuses(
        self,
        account: Account,
        slug: str,
        changes: Sequence[BatchItem],
        *,
        if_match: str | None = None,
    ) -> tuple[list[TopicStatusResult], str]:
        """Set several topics' statuses in one transaction, all or nothing."""
        roadmap = await self.catalog.current(slug)
        current = set(roadmap.topic_ids())
        for change in changes:
            if change.topic_id not in current:
                raise NotFound(f"no topic {change.topic_id!r} in roadmap {slug!r}")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self.db.transaction() as conn:
                    return await self._apply(conn, account, roadmap, changes, if_match)
            except IntegrityError:
                # Another change of this learner's log took the next number first.
                log.debug("progress.retry", attempt=attempt, roadmap=slug)
                await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP, 0.005 * 2**attempt)))  # noqa: S311
        raise Conflict("too many changes at once to this roadmap; try again")

    async def _apply(
        self,
        conn: AsyncConnection,
        account: Account,
        roadmap: CurrentRoadmap,
        changes: Sequence[BatchItem],
        if_match: str | None,
    ) -> tuple[list[TopicStatusResult], str]:
        repo = ProgressRepository(conn)
        row = await repo.roadmap(account.id, roadmap.id)
        seen = await repo.seen_version(account.id, roadmap.id)
        last_seq = row.last_seq if row else 0
        if if_match is not None and if_match.strip() not in (
            "*",
            etag(last_seq, roadmap.version, seen),
        ):
            raise PreconditionFailed(f"your view is at {if_match}; reread it")
        statuses = await repo.statuses(account.id, roadmap.id)
        now = self.clock.now()
        changed: list[tuple[BatchItem, Status, int]] = []
        for change in changes:
            before = statuses.get(change.topic_id, "pending")
            if before == change.status:
                continue
            last_seq += 1
            await repo.append(
                account.id,
                roadmap.id,
                EventRow(
                    seq=last_seq,
                    topic_key=change.topic_id,
                    from_status=before,
                    to_status=change.status,
                    at=now,
                    roadmap_version=roadmap.version,
                    request_id=current_request_id(),
                ),
            )
            await repo.set_status(
                account.id, roadmap.id, change.topic_id, change.status, at=now, seq=last_seq
            )
            statuses[change.topic_id] = change.status
            changed.append((change, before, last_seq))
        tallies = rules.tally(roadmap, statuses)
        if changed:
            completed = rules.is_complete(tallies, roadmap)
            newly_complete = completed and (row is None or row.completed_at is None)
            sections = {
                section.id
                for section in roadmap.detail.sections
                for topic in section.topics
                if topic.id in {c.topic_id for c, _, _ in changed}
            }
            await repo.save_roadmap(
                account.id,
                RoadmapRow(
                    roadmap_id=roadmap.id,
                    roadmap_slug=roadmap.slug,
                    last_seq=last_seq,
                    done=0,
                    learning=0,
                    skipped=0,
                    started_at=row.started_at if row else now,
                    last_activity_at=now,
                    completed_at=(row.completed_at if row and not newly_complete else now)
                    if completed
                    else None,
                ),
                tallies=tallies,
                sections=sections,
            )
            await repo.mark_day(account.id, now.astimezone(ZoneInfo(account.time_zone)).date())
            await repo.see_if_never(account.id, roadmap.id, roadmap.version, now)
            done, learning, skipped = tallies.roadmap
            total = len(roadmap.topic_ids())
            for change, before, seq in changed:
                await self.outbox.publish(
                    conn,
                    TOPIC_STATUS_CHANGED,
                    TopicStatusChanged(
                        account_id=str(account.id),
                        roadmap=roadmap.slug,
                        roadmap_version=roadmap.version,
                        topic_id=change.topic_id,
                        from_status=before,
                        to_status=change.status,
                        seq=seq,
                        at=now,
                        done=done,
                        learning=learning,
                        skipped=skipped,
                        total=total,
                        request_id=current_request_id(),
                    ),
                )
            if newly_complete:
                await self.outbox.publish(
                    conn,
                    ROADMAP_COMPLETED,
                    RoadmapCompleted(
                        account_id=str(account.id),
                        roadmap=roadmap.slug,
                        roadmap_version=roadmap.version,
                        at=now,
                    ),
                )
            seen = seen if seen is not None else roadmap.version
        counts = rules.counts(*tallies.roadmap, len(roadmap.topic_ids()))
        changed_ids = {c.topic_id for c, _, _ in changed}
        results = [
            TopicStatusResult(
                topic_id=change.topic_id,
                status=statuses.get(change.topic_id, "pending"),
                changed=change.topic_id in changed_ids,
                counts=counts,
            )
            for change in changes
        ]
        return results, etag(last_seq, roadmap.version, seen)

    async def mark_seen(self, account: Account, slug: str) -> str:
        """The learner has seen the roadmap's current version: what changed since is
        counted from it. The view's new ETag."""
        roadmap = await self.catalog.current(slug)
        async with self.db.transaction() as conn:
            repo = ProgressRepository(conn)
            await repo.see(account.id, roadmap.id, roadmap.version, self.clock.now())
            row = await repo.roadmap(account.id, roadmap.id)
        return etag(row.last_seq if row else 0, roadmap.version, roadmap.version)

    # -- reads -------------------------------------------------------------------------------

    async def view(self, account: Account, slug: str) -> tuple[RoadmapProgress, str]:
        """One roadmap's progress, from the read models; and its ETag."""
        roadmap = await self.catalog.current(slug)
        async with self.db.read() as conn:
            repo = ProgressRepository(conn)
            row = await repo.roadmap(account.id, roadmap.id)
            statuses = await repo.statuses(account.id, roadmap.id) if row else {}
            sections = await repo.section_tallies(account.id, roadmap.id) if row else {}
            seen = await repo.seen_version(account.id, roadmap.id)
        changed = None
        if seen is not None and seen != roadmap.version:
            document = await self.catalog.version(slug, seen)
            if document is not None:
                changed = rules.changes(document, roadmap, since_version=seen)
        current = roadmap.topic_ids()
        totals = (row.done, row.learning, row.skipped) if row else (0, 0, 0)
        view = RoadmapProgress(
            slug=roadmap.slug,
            title=roadmap.detail.title,
            version=roadmap.version,
            counts=rules.counts(*totals, len(current)),
            sections=[
                SectionProgress(
                    id=section.id,
                    title=section.title,
                    counts=rules.counts(*sections.get(section.id, (0, 0, 0)), len(section.topics)),
                )
                for section in roadmap.detail.sections
            ],
            statuses={topic: statuses.get(topic, "pending") for topic in current},
            next_up=rules.next_up(roadmap, statuses),
            changes_since_seen=changed,
            started_at=row.started_at if row else None,
            last_activity_at=row.last_activity_at if row else None,
            completed_at=row.completed_at if row else None,
        )
        return view, etag(row.last_seq if row else 0, roadmap.version, seen)

    async def overview(self, account: Account) -> list[RoadmapProgressSummary]:
        """Every roadmap the learner started, most recently active first."""
        async with self.db.read() as conn:
            rows = await ProgressRepository(conn).roadmaps(account.id)
        summaries = []
        for row in rows:
            try:
                roadmap = await self.catalog.current(row.roadmap_slug)
            except NotFound:  # the roadmap is gone: its progress goes with it
                continue
            summaries.append(
                RoadmapProgressSummary(
                    slug=roadmap.slug,
                    title=roadmap.detail.title,
                    counts=rules.counts(
                        row.done, row.learning, row.skipped, len(roadmap.topic_ids())
                    ),
                    started_at=row.started_at,
                    last_activity_at=row.last_activity_at,
                    completed_at=row.completed_at,
                )
            )
        return summaries

    async def history(
        self, account: Account, slug: str, *, before: int | None, limit: int
    ) -> list[HistoryEntry]:
        """The learner's changes to one roadmap, newest first (retired topics included)."""
        roadmap = await self.catalog.current(slug)
        async with self.db.read() as conn:
            events = await ProgressRepository(conn).history(
                account.id, roadmap.id, before=before, limit=limit
            )
        return [
            HistoryEntry(
                seq=e.seq,
                topic_id=e.topic_key,
                from_status=e.from_status,
                to_status=e.to_status,
                at=e.at,
                roadmap_version=e.roadmap_version,
            )
            for e in events
        ]

    async def streak(self, account: Account) -> Streak:
        async with self.db.read() as conn:
            days = await ProgressRepository(conn).days(account.id)
        today = self.clock.now().astimezone(ZoneInfo(account.time_zone)).date()
        current, longest = rules.streaks(days, today=today)
        return Streak(
            current=current,
            longest=longest,
            active_today=bool(days) and days[-1] == today,
            last_active_day=days[-1] if days else None,
            time_zone=account.time_zone,
        )

    # -- the read models, from the log -------------------------------------------------------

    async def rebuild(
        self,
        *,
        account_id: uuid.UUID | None = None,
        time_zone_of: Callable[[uuid.UUID], Awaitable[str]],
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Recompute every read model from the log (of one account, or all); returns how
        many logs were replayed. `progress(done, total)` is told after each."""
        async with self.db.read() as conn:
            logs = await ProgressRepository(conn).logs(account_id)
        roadmaps: dict[int, CurrentRoadmap | None] = {}
        for number, (account, roadmap_id) in enumerate(logs, start=1):
            if roadmap_id not in roadmaps:
                roadmaps[roadmap_id] = await self.catalog.current_by_id(roadmap_id)
            async with self.db.transaction() as conn:
                await self.replay(conn, account, roadmaps[roadmap_id])
            if progress:
                progress(number, len(logs))
        for account in sorted({a for a, _ in logs}):
            zone = ZoneInfo(await time_zone_of(account))
            async with self.db.transaction() as conn:
                await self._redo_days(conn, account, zone)
        return len(logs)

    async def replay(
        self, conn: AsyncConnection, account_id: uuid.UUID, roadmap: CurrentRoadmap | None
    ) -> None:
        """One log's read models, recomputed from its events (`roadmap`: its current
        content; None when the roadmap is gone, and the log with it)."""
        if roadmap is None:
            return
        roadmap_id = roadmap.id
        repo = ProgressRepository(conn)
        events = await repo.events(account_id, roadmap_id)
        await repo.forget(account_id, roadmap_id)
        if not events:
            return
        latest: dict[str, EventRow] = {}
        completed_at: datetime | None = None
        statuses: dict[str, Status] = {}
        for event in events:
            latest[event.topic_key] = event
            statuses[event.topic_key] = event.to_status
            complete = rules.is_complete(rules.tally(roadmap, statuses), roadmap)
            completed_at = (completed_at or event.at) if complete else None
        await repo.put_statuses(
            account_id,
            roadmap_id,
            [
                {"topic_key": key, "status": e.to_status, "changed_at": e.at, "seq": e.seq}
                for key, e in latest.items()
            ],
        )
        tallies = rules.tally(roadmap, statuses)
        await repo.save_roadmap(
            account_id,
            RoadmapRow(
                roadmap_id=roadmap_id,
                roadmap_slug=roadmap.slug,
                last_seq=events[-1].seq,
                done=0,
                learning=0,
                skipped=0,
                started_at=events[0].at,
                last_activity_at=events[-1].at,
                completed_at=completed_at,
            ),
            tallies=tallies,
            sections=rules.sections_with_statuses(roadmap, statuses),
        )

    async def recount(self, roadmap_id: int) -> int:
        """Recompute every learner's counts of a roadmap from their topics' statuses, with
        its current content (after a new version); returns how many learners."""
        roadmap = await self.catalog.current_by_id(roadmap_id)
        if roadmap is None:
            return 0
        async with self.db.read() as conn:
            accounts = await ProgressRepository(conn).accounts_of_roadmap(roadmap_id)
        for account_id in accounts:
            async with self.db.transaction() as conn:
                repo = ProgressRepository(conn)
                row = await repo.roadmap(account_id, roadmap_id)
                if row is None:
                    continue
                statuses = await repo.statuses(account_id, roadmap_id)
                tallies = rules.tally(roadmap, statuses)
                complete = rules.is_complete(tallies, roadmap)
                row.completed_at = (row.completed_at or self.clock.now()) if complete else None
                await repo.forget_sections(account_id, roadmap_id)
                await repo.save_roadmap(
                    account_id,
                    row,
                    tallies=tallies,
                    sections=rules.sections_with_statuses(roadmap, statuses),
                )
        return len(accounts)

    async def _redo_days(
        self, conn: AsyncConnection, account_id: uuid.UUID, zone: ZoneInfo
    ) -> None:
        repo = ProgressRepository(conn)
        await repo.forget_days(account_id)
        days = {at.astimezone(zone).date() for at in await repo.change_times(account_id)}
        for day in sorted(days):
            await repo.mark_day(account_id, day)
