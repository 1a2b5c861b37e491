"""Progress's scheduled jobs: the weekly digest mail and the streak roll-over.

- `progress-digest` (Mondays 08:00 UTC): each account that takes it (confirmed, enabled, not
  opted out in its settings) and made progress in the 7 days before the slot gets one mail
  with the week's counts. Accounts come a page at a time from the accounts feature (an
  injected `DigestRecipients`: this feature reads no account tables); each page's mails are
  queued in one transaction, each with a dedupe key of the account and week, so a slot run
  again (a retry) mails nobody twice.
- `progress-streak-rollover` (hourly): a learner's streak is the run of days with progress in
  their own time zone (`rules.streaks`, read live by `GET /progress/streak`). At the first
  slot of a learner's day, a streak of 2 days or more whose last day is the day before
  yesterday (so yesterday went by without progress) has ended: `progress.streak_ended` is
  published, which the notification centre turns into a notification. The handler runs in
  the relay's transaction, so each ended streak is announced once. Only learners active in
  the last 3 days are looked at: a catch-up after more downtime than that announces nothing
  for the days missed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress import rules
from waymark.features.progress.messages import STREAK_ENDED, StreakEnded
from waymark.features.progress.repository import ProgressRepository
from waymark.features.progress.tables import progress_days, progress_events
from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox
from waymark.infra.scheduler import ScheduledJobs, ScheduledRun
from waymark.infra.sql.database import Database
from waymark.kernel.identity import Account

DIGEST_MAIL = "progress-digest"
DIGEST_PAGE = 200
MIN_STREAK = 2
LOOK_BACK_DAYS = 3


class DigestRecipients(Protocol):
    def __call__(self, *, after: uuid.UUID | None, limit: int) -> Awaitable[list[Account]]:
        """A page of the accounts that take the digest, by id after `after`."""
        ...


class AccountsById(Protocol):
    def __call__(self, account_ids: Collection[uuid.UUID]) -> Awaitable[dict[uuid.UUID, Account]]:
        """Several accounts' views (their time zones), by id."""
        ...


class WeekTally(msgspec.Struct, frozen=True, kw_only=True):
    changes: int
    done: int
    days: int


class ProgressSchedules:
    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        recipients: DigestRecipients,
        accounts: AccountsById,
        public_url: str,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.recipients = recipients
        self.accounts = accounts
        self.public_url = public_url.rstrip("/")

    def register(self, schedules: ScheduledJobs) -> None:
        schedules.add(
            "progress-digest",
            "0 8 * * 1",
            self.digest,
            catch_up="once",
            description="weekly progress digest mail",
        )
        schedules.add(
            "progress-streak-rollover",
            "0 * * * *",
            self.roll_over,
            catch_up="once",
            transactional=True,
            description="announces streaks that ended at learners' midnight",
        )

    async def digest(self, run: ScheduledRun) -> int:
        """Mail the week before the slot to each recipient who made progress in it; returns
        how many mails were queued (none again for a slot run twice)."""
        end = run.slot
        start = end - timedelta(days=7)
        queued = 0
        after: uuid.UUID | None = None
        while page := await self.recipients(after=after, limit=DIGEST_PAGE):
            after = page[-1].id
            async with self.db.transaction() as conn:
                tallies = await week_tallies(conn, [a.id for a in page], start, end)
                for account in page:
                    tally = tallies.get(account.id)
                    if tally is None or tally.changes == 0:
                        continue
                    queued += await self._mail(conn, account, tally, start, end)
            if len(page) < DIGEST_PAGE:
                break
        return queued

    async def _mail(
        self,
        conn: AsyncConnection,
        account: Account,
        tally: WeekTally,
        start: datetime,
        end: datetime,
    ) -> int:
        queued = await enqueue_mail(
            self.outbox,
            conn,
            to=account.email,
            template=DIGEST_MAIL,
            context={
                "name": account.display_name,
                "start": start.date().isoformat(),
                "end": (end - timedelta(days=1)).date().isoformat(),
                "changes": tally.changes,
                "done": tally.done,
                "days": tally.days,
                "link": f"{self.public_url}/",
                "settings": f"{self.public_url}/settings",
            },
            dedupe_key=f"progress-digest:{account.id}:{end.date().isoformat()}",
        )
        return int(queued is not None)

    async def roll_over(self, run: ScheduledRun, conn: AsyncConnection) -> int:
        """Publish `progress.streak_ended` for each streak that ended at the learner's
        midnight just past (the slot is the first of their day); returns how many."""
        recent = await last_days(conn, since=run.slot.date() - timedelta(days=LOOK_BACK_DAYS))
        accounts = await self.accounts(list(recent))
        ended = 0
        for account_id, last in recent.items():
            account = accounts.get(account_id)
            if account is None or account.disabled:
                continue
            local = run.slot.astimezone(ZoneInfo(account.time_zone))
            if local.hour != 0 or last != local.date() - timedelta(days=2):
                continue
            days = await ProgressRepository(conn).days(account_id)
            length, _ = rules.streaks(days, today=last)
            if length < MIN_STREAK:
                continue
            event = StreakEnded(account_id=str(account_id), days=length, last_active_day=last)
            await self.outbox.publish(conn, STREAK_ENDED, event)
            ended += 1
        return ended


async def week_tallies(
    conn: AsyncConnection, account_ids: list[uuid.UUID], start: datetime, end: datetime
) -> Mapping[uuid.UUID, WeekTally]:
    """Per account, changes and topics done in [start, end), and days with progress then
    (days in the account's zone, taken as the dates of the interval)."""
    if not account_ids:
        return {}
    e, d = progress_events, progress_days
    changes = await conn.execute(
        select(
            e.c.user_id,
            func.count().label("changes"),
            func.sum(case((e.c.to_status == "done", 1), else_=0)).label("done"),
        )
        .where(e.c.user_id.in_(account_ids), e.c.at >= start, e.c.at < end)
        .group_by(e.c.user_id)
    )
    days = await conn.execute(
        select(d.c.user_id, func.count().label("n"))
        .where(d.c.user_id.in_(account_ids), d.c.day >= start.date(), d.c.day < end.date())
        .group_by(d.c.user_id)
    )
    active = {row.user_id: row.n for row in days}
    return {
        row.user_id: WeekTally(
            changes=row.changes, done=int(row.done or 0), days=active.get(row.user_id, 0)
        )
        for row in changes
    }


async def last_days(conn: AsyncConnection, *, since: date) -> dict[uuid.UUID, date]:
    """Each learner's last day with progress, for those with one on or after `since`."""
    rows = await conn.execute(
        select(progress_days.c.user_id, func.max(progress_days.c.day).label("last"))
        .where(progress_days.c.day >= since)
        .group_by(progress_days.c.user_id)
    )
    return {row.user_id: row.last for row in rows}
