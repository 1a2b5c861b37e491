"""The read models of progress, computed from the log: a full rebuild (`waymark progress
rebuild`), one log's replay (after a restore), and a recount of everyone following a
roadmap with its current topics (after a new version is published).

The rules are `rules`' pure functions, the same the live changes use, so live and rebuilt
read models agree by construction (and a test checks it).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress import rules
from waymark.features.progress.repository import EventRow, ProgressRepository, RoadmapRow
from waymark.features.progress.schemas import Status
from waymark.features.roadmaps.schemas import CurrentRoadmap
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock


class Projections:
    def __init__(self, *, db: Database, catalog: RoadmapCatalog, clock: Clock) -> None:
        self.db = db
        self.catalog = catalog
        self.clock = clock

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
                await self.redo_days(conn, account, zone)
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

    async def redo_days(self, conn: AsyncConnection, account_id: uuid.UUID, zone: ZoneInfo) -> None:
        """The days of activity of an account, in its time zone, from all its logs."""
        repo = ProgressRepository(conn)
        await repo.forget_days(account_id)
        days = {at.astimezone(zone).date() for at in await repo.change_times(account_id)}
        for day in sorted(days):
            await repo.mark_day(account_id, day)
