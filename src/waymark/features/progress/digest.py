"""The weekly progress digest, at the digest's time (`WAYMARK_SCHEDULER__DIGEST_AT`, Mondays
08:00) in each learner's own time zone.

The scheduled job runs every 15 minutes (every zone's offset is a multiple of 15 minutes).
Each run looks, for every account that takes the digest (confirmed, enabled, not opted out;
a page at a time from the accounts feature, through the injected `DigestRecipients`), at the
latest digest slot at or before the run in the account's zone (`CronSchedule`: a daylight-
saving change moves the instant, never the wall-clock time, and never doubles it). A learner
whose slot's week has no `progress_digests` row yet (nor a later one: a learner who moves to
a zone further west gets no second digest) is dealt with: the row (primary key: learner and
the slot's local date) is inserted with ON CONFLICT DO NOTHING and, in the same transaction,
the mail is queued if the learner made progress since the slot before. So a run repeated (a
redelivery, two schedulers' slots) or running after downtime mails each learner once a week,
never twice. The mail's dedupe key (learner and week) is the one the digest always had.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import msgspec
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress.tables import progress_days, progress_digests, progress_events
from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox
from waymark.infra.scheduler import CronSchedule, InvalidSchedule, ScheduledRun
from waymark.infra.sql.database import Database
from waymark.kernel.identity import Account

DIGEST_MAIL = "progress-digest"
DIGEST_PAGE = 200
DIGEST_AT = "0 8 * * 1"
"""Mondays 08:00, in each learner's zone (the default of `WAYMARK_SCHEDULER__DIGEST_AT`)."""
RUN_EVERY = "*/15 * * * *"


class DigestRecipients(Protocol):
    def __call__(self, *, after: uuid.UUID | None, limit: int) -> Awaitable[list[Account]]:
        """A page of the accounts that take the digest, by id after `after`."""
        ...


class WeekTally(msgspec.Struct, frozen=True, kw_only=True):
    changes: int
    done: int
    days: int


@dataclass(frozen=True, slots=True)
class Week:
    """A learner's digest week: from the slot before (`start`) to this slot (`end`)."""

    start: datetime
    end: datetime
    first_day: date
    """The local date of `start`: the first day counted."""
    week: date
    """The local date of `end`: the week's key (the slot's own day is not counted)."""


class WeeklyDigest:
    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        recipients: DigestRecipients,
        public_url: str,
        at: str = DIGEST_AT,
    ) -> None:
        CronSchedule(at)  # an invalid expression stops the process at start
        self.db = db
        self.outbox = outbox
        self.recipients = recipients
        self.public_url = public_url.rstrip("/")
        self.at = at
        self._zones: dict[str, CronSchedule] = {}

    async def run(self, run: ScheduledRun) -> int:
        """Mail each recipient whose digest slot has come (in their zone) and who has none for
        that week yet, if they made progress; returns how many mails were queued."""
        queued = 0
        after: uuid.UUID | None = None
        weeks: dict[str, Week | None] = {}  # per zone, for this run
        while page := await self.recipients(after=after, limit=DIGEST_PAGE):
            after = page[-1].id
            due: dict[uuid.UUID, tuple[Account, Week]] = {}
            for account in page:
                zone = account.time_zone
                if zone not in weeks:
                    weeks[zone] = self._week(zone, run.slot)
                week = weeks[zone]
                if week is not None:
                    due[account.id] = (account, week)
            if due:
                async with self.db.transaction() as conn:
                    queued += await self._deal_with(conn, due, run.slot)
            if len(page) < DIGEST_PAGE:
                break
        return queued

    async def _deal_with(
        self, conn: AsyncConnection, due: Mapping[uuid.UUID, tuple[Account, Week]], now: datetime
    ) -> int:
        done = await _dealt_with(conn, {id_: week for id_, (_, week) in due.items()})
        waiting: dict[Week, list[Account]] = defaultdict(list)
        for account_id, (account, week) in due.items():
            if account_id not in done:
                waiting[week].append(account)
        queued = 0
        for week, accounts in waiting.items():
            tallies = await week_tallies(conn, [a.id for a in accounts], week)
            for account in accounts:
                tally = tallies.get(account.id)
                mailing = tally is not None and tally.changes > 0
                if not await _claim(conn, account.id, week, mailed=mailing, now=now):
                    continue  # another run dealt with this week since
                if tally is not None and mailing:
                    queued += await self._mail(conn, account, tally, week)
        return queued

    def _week(self, time_zone: str, moment: datetime) -> Week | None:
        """The week of the latest slot at or before `moment` in `time_zone` (UTC if the zone
        is unknown here)."""
        schedule = self._zones.get(time_zone)
        if schedule is None:
            try:
                schedule = CronSchedule(self.at, time_zone)
            except InvalidSchedule:
                schedule = CronSchedule(self.at)
            self._zones[time_zone] = schedule
        end = schedule.latest_at_or_before(moment)
        if end is None:
            return None
        start = schedule.latest_at_or_before(end - timedelta(seconds=1)) or end - timedelta(days=7)
        return Week(
            start=start,
            end=end,
            first_day=start.astimezone(schedule.zone).date(),
            week=end.astimezone(schedule.zone).date(),
        )

    async def _mail(
        self, conn: AsyncConnection, account: Account, tally: WeekTally, week: Week
    ) -> int:
        queued = await enqueue_mail(
            self.outbox,
            conn,
            to=account.email,
            template=DIGEST_MAIL,
            context={
                "name": account.display_name,
                "start": week.first_day.isoformat(),
                "end": (week.week - timedelta(days=1)).isoformat(),
                "changes": tally.changes,
                "done": tally.done,
                "days": tally.days,
                "link": f"{self.public_url}/",
                "settings": f"{self.public_url}/settings",
            },
            dedupe_key=f"progress-digest:{account.id}:{week.week.isoformat()}",
        )
        return int(queued is not None)


async def _dealt_with(conn: AsyncConnection, weeks: Mapping[uuid.UUID, Week]) -> set[uuid.UUID]:
    """The learners among `weeks` who had a digest after the week's first day: this week's,
    or a later one (a learner who moved to a zone whose Monday comes later gets no second
    digest of a week)."""
    d = progress_digests
    rows = await conn.execute(
        select(d.c.user_id, func.max(d.c.week).label("last"))
        .where(d.c.user_id.in_(list(weeks)))
        .group_by(d.c.user_id)
    )
    return {row.user_id for row in rows if row.last > weeks[row.user_id].first_day}


async def _claim(
    conn: AsyncConnection, account_id: uuid.UUID, week: Week, *, mailed: bool, now: datetime
) -> bool:
    """Record the learner's week unless it is; True if this transaction recorded it (a
    concurrent one on PostgreSQL waits for the first to commit, then inserts nothing)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(progress_digests)
        .values(
            user_id=account_id, week=week.week, slot_at=week.end, mailed=mailed, recorded_at=now
        )
        .on_conflict_do_nothing(
            index_elements=[progress_digests.c.user_id, progress_digests.c.week]
        )
        .returning(progress_digests.c.user_id)
    )
    return (await conn.execute(statement)).first() is not None


async def week_tallies(
    conn: AsyncConnection, account_ids: list[uuid.UUID], week: Week
) -> Mapping[uuid.UUID, WeekTally]:
    """Per account, changes and topics done in [start, end), and days with progress from the
    first day up to the week's (days in the account's zone, as `progress_days` keeps them)."""
    if not account_ids:
        return {}
    e, d = progress_events, progress_days
    changes = await conn.execute(
        select(
            e.c.user_id,
            func.count().label("changes"),
            func.sum(case((e.c.to_status == "done", 1), else_=0)).label("done"),
        )
        .where(e.c.user_id.in_(account_ids), e.c.at >= week.start, e.c.at < week.end)
        .group_by(e.c.user_id)
    )
    days = await conn.execute(
        select(d.c.user_id, func.count().label("n"))
        .where(d.c.user_id.in_(account_ids), d.c.day >= week.first_day, d.c.day < week.week)
        .group_by(d.c.user_id)
    )
    active = {row.user_id: row.n for row in days}
    return {
        row.user_id: WeekTally(
            changes=row.changes, done=int(row.done or 0), days=active.get(row.user_id, 0)
        )
        for row in changes
    }
