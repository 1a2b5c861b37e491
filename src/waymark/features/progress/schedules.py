"""Progress's scheduled jobs: the weekly digest mail and the streak roll-over.

- `progress-digest` (every 15 minutes): each account that takes it (confirmed, enabled, not
  opted out in its settings) and made progress in the week before gets one mail with the
  week's counts, at the digest's time (Mondays 08:00) in its own time zone, once a week
  (`digest.py`). Accounts come a page at a time from the accounts feature (an injected
  `DigestRecipients`: this feature reads no account tables).
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
from collections.abc import Awaitable, Collection
from datetime import date, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.progress import rules
from waymark.features.progress.digest import (
    DIGEST_AT,
    RUN_EVERY,
    DigestRecipients,
    WeeklyDigest,
)
from waymark.features.progress.messages import STREAK_ENDED, StreakEnded
from waymark.features.progress.repository import ProgressRepository
from waymark.features.progress.tables import progress_days
from waymark.infra.outbox import Outbox
from waymark.infra.scheduler import ScheduledJobs, ScheduledRun
from waymark.infra.sql.database import Database
from waymark.kernel.identity import Account

MIN_STREAK = 2
LOOK_BACK_DAYS = 3


class AccountsById(Protocol):
    def __call__(self, account_ids: Collection[uuid.UUID]) -> Awaitable[dict[uuid.UUID, Account]]:
        """Several accounts' views (their time zones), by id."""
        ...


class ProgressSchedules:
    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        recipients: DigestRecipients,
        accounts: AccountsById,
        public_url: str,
        digest_at: str = DIGEST_AT,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.accounts = accounts
        self.digest = WeeklyDigest(
            db=db, outbox=outbox, recipients=recipients, public_url=public_url, at=digest_at
        )

    def register(self, schedules: ScheduledJobs) -> None:
        schedules.add(
            "progress-digest",
            RUN_EVERY,
            self.digest.run,
            catch_up="once",
            description="weekly progress digest mail, at its time in each learner's zone",
        )
        schedules.add(
            "progress-streak-rollover",
            "0 * * * *",
            self.roll_over,
            catch_up="once",
            transactional=True,
            description="announces streaks that ended at learners' midnight",
        )

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


async def last_days(conn: AsyncConnection, *, since: date) -> dict[uuid.UUID, date]:
    """Each learner's last day with progress, for those with one on or after `since`."""
    rows = await conn.execute(
        select(progress_days.c.user_id, func.max(progress_days.c.day).label("last"))
        .where(progress_days.c.day >= since)
        .group_by(progress_days.c.user_id)
    )
    return {row.user_id: row.last for row in rows}
