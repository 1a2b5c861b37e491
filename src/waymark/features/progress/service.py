"""Learning progress: one entry point per use case.

A status change appends one event to the learner's log of that roadmap and updates the read
models in the same transaction (the topic's status, the roadmap's and its section's counts,
the day of activity), and publishes `progress.topic_status_changed` (and
`progress.roadmap_completed` when the last topic is done or skipped) through the outbox.
Setting the status a topic already has writes nothing.

Concurrent writers of one learner's log take turns on the event number (`turns`). The read
models are recomputed from the log by `projections`; an export's log is restored by
`archive`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress import cohorts, rules
from waymark.features.progress.archive import ProgressArchive
from waymark.features.progress.messages import (
    ROADMAP_COMPLETED,
    TOPIC_STATUS_CHANGED,
    RoadmapCompleted,
    TopicStatusChanged,
)
from waymark.features.progress.projections import Projections
from waymark.features.progress.repository import (
    LEARNER_STATE,
    EventRow,
    ProgressRepository,
    RoadmapRow,
    learner_state,
)
from waymark.features.progress.schemas import (
    BatchItem,
    GroupProgress,
    HistoryEntry,
    RoadmapProgress,
    RoadmapProgressSummary,
    SectionProgress,
    Status,
    Streak,
    TopicStatusResult,
)
from waymark.features.progress.turns import in_turn
from waymark.features.roadmaps.schemas import CurrentRoadmap
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.context import current_request_id
from waymark.kernel.errors import NotFound, PreconditionFailed
from waymark.kernel.identity import Account

log = structlog.get_logger(__name__)


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
        self.projections = Projections(db=db, catalog=catalog, clock=clock)
        self.archive = ProgressArchive(
            db=db, catalog=catalog, projections=self.projections, outbox=outbox, clock=clock
        )

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
        return await in_turn(
            self.db,
            lambda conn: self._apply(conn, account, roadmap, changes, if_match),
            f"roadmap {slug!r}",
        )

    async def _apply(
        self,
        conn: AsyncConnection,
        account: Account,
        roadmap: CurrentRoadmap,
        changes: Sequence[BatchItem],
        if_match: str | None,
    ) -> tuple[list[TopicStatusResult], str]:
        repo = ProgressRepository(conn)
        state = await repo.state(account.id, roadmap.id)
        row, seen, statuses = state.row, state.seen, state.statuses
        last_seq = row.last_seq if row else 0
        if if_match is not None and if_match.strip() not in (
            "*",
            etag(last_seq, roadmap.version, seen),
        ):
            raise PreconditionFailed(f"your view is at {if_match}; reread it")
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
            zone = ZoneInfo(account.time_zone)
            if (
                row is None
                or row.last_activity_at.astimezone(zone).date() != now.astimezone(zone).date()
            ):
                await repo.mark_day(account.id, now.astimezone(zone).date())  # the day's first
            if seen is None:
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
        found = await LEARNER_STATE.fetch(
            self.db, {"account_id": account.id, "roadmap_id": roadmap.id}
        )
        assert found is not None  # one row, always (an outer join from a constant)
        state = learner_state(found)
        row, seen, statuses = state.row, state.seen, state.statuses
        # The sections' counts, from the statuses (what section_progress holds, by
        # construction and by test): no second read.
        sections = rules.tally(roadmap, statuses).sections
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

    async def of_members(
        self, slug: str, account_ids: Sequence[uuid.UUID], *, hidden: Collection[str] = ()
    ) -> GroupProgress:
        """Several learners' progress on one roadmap, for a group's view of it (a team's):
        each learner's counts and last activity, and per topic how many are done, learning,
        skipped or pending. Topics in `hidden` are left out of everything (counts, totals,
        percentages); retired topics never count. Read from the read models in three
        statements at most, however many learners and however long their logs; the caller
        decides who may see it. Raises `NotFound` for an unknown roadmap."""
        roadmap = await self.catalog.current(slug)
        hide = set(hidden)
        current = roadmap.topic_ids()
        visible = [topic for topic in current if topic not in hide]
        hidden_now = [topic for topic in current if topic in hide]
        learners = list(dict.fromkeys(account_ids))
        rows: dict[uuid.UUID, cohorts.LearnerRow] = {}
        tallies: dict[tuple[str, Status], int] = {}
        in_hidden: dict[tuple[uuid.UUID, Status], int] = {}
        if learners:
            rows = await cohorts.learner_rows(self.db, roadmap.id, learners)
            tallies = await cohorts.topic_tallies(self.db, roadmap.id, learners)
            if hidden_now and rows:
                in_hidden = await cohorts.learner_tallies(
                    self.db, roadmap.id, list(rows), hidden_now
                )
        return rules.group_progress(
            roadmap, visible, learners, rows=rows, tallies=tallies, in_hidden=in_hidden
        )

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
