"""The features' scheduled jobs, each run the way production runs it: the container's
scheduler enqueues the slot, its outbox relay delivers it (and the mails or events it
writes), on SQLite and PostgreSQL. Time is driven: slots are in 2030, the relay runs at them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, insert, select

from tests.auth_helpers import mails, text_of
from tests.integration.progress_support import TOPICS, new_account
from tests.integration.test_maintenance import column, session
from waymark.container import Container
from waymark.features.accounts.tables import email_tokens, users
from waymark.features.notifications.tables import notifications
from waymark.features.progress.tables import progress_days
from waymark.infra.outbox.tables import outbox as outbox_table
from waymark.infra.scheduler import ScheduledRun
from waymark.infra.sql.database import Database
from waymark.infra.sql.ephemeral_tables import ephemeral_sessions
from waymark.kernel.identity import Account
from waymark.settings import Settings

MONDAY_8 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
DIGEST = "Your week on Waymark"


@pytest.fixture
async def container(settings: Settings, backend_roadmap: None) -> AsyncIterator[Container]:
    built = Container(settings)
    yield built
    await built.aclose()


async def run_slot(container: Container, job: str, slot: datetime) -> None:
    """Tick the scheduler just after `slot` (which must be one of `job`'s), then let the
    relay deliver everything due (the slot, then what it wrote), as of then."""
    now = slot + timedelta(seconds=1)
    outcomes = await container.scheduler.tick(now)
    assert (job, slot) in [(o.job, o.slot) for o in outcomes]
    await drain(container, now)


async def drain(container: Container, now: datetime) -> None:
    for _ in range(20):
        report = await container.relay.run_once(now)
        assert report.dead == 0
        if report.claimed == 0:
            return
    raise AssertionError("the outbox never emptied")


async def progress_at(container: Container, learner: Account, moment: datetime) -> None:
    container.clock.offset = (moment - datetime.now(UTC)).total_seconds()
    try:
        await container.progress.set_status(learner, "backend", TOPICS[0], "done")
    finally:
        container.clock.offset = 0


async def test_the_weekly_digest_mails_who_learned_and_honours_the_opt_out(
    container: Container, db: Database, mail_dir: Path
) -> None:
    learner, opted_out, idle = [await new_account(db) for _ in range(3)]
    await container.accounts.profiles.update(opted_out.id, {"weekly_digest": False})
    for account in (learner, opted_out):
        await progress_at(container, account, MONDAY_8 - timedelta(days=3))
    # Last week's progress does not count in this week's mail.
    await progress_at(container, idle, MONDAY_8 - timedelta(days=9))

    await run_slot(container, "progress-digest", MONDAY_8)

    (mail,) = mails(mail_dir, learner.email, DIGEST)
    assert "from 2029-12-31 to 2030-01-06 you made 1 change(s)" in text_of(mail)
    assert "finished 1 topic(s)" in text_of(mail)
    assert mails(mail_dir, opted_out.email, DIGEST) == []
    assert mails(mail_dir, idle.email, DIGEST) == []
    # The slot's handler run again (a redelivery) mails nobody twice.
    job = container.schedules.get("progress-digest")
    assert job is not None
    slot_run = await _run_of(db, "schedule.progress-digest")
    assert await job.handler(slot_run) == 0  # type: ignore[call-arg]  # not transactional
    await drain(container, MONDAY_8 + timedelta(seconds=2))
    assert len(mails(mail_dir, learner.email, DIGEST)) == 1


async def _run_of(db: Database, kind: str) -> ScheduledRun:
    """The run of the slot enqueued as `kind`, as its handler got it."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(outbox_table.c.id, outbox_table.c.payload).where(outbox_table.c.kind == kind)
            )
        ).one()
    run = msgspec.json.decode(row.payload, type=ScheduledRun)
    return msgspec.structs.replace(run, message_id=row.id)


async def _with_days(db: Database, time_zone: str, days: list[date]) -> Account:
    learner = await new_account(db)
    async with db.transaction() as conn:
        await conn.execute(
            users.update().where(users.c.id == learner.id).values(time_zone=time_zone)
        )
        if days:
            await conn.execute(
                insert(progress_days), [{"user_id": learner.id, "day": day} for day in days]
            )
    return learner


async def _streak_notifications(db: Database, account: Account) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(notifications.c.text).where(
                notifications.c.account_id == account.id, notifications.c.kind == "streak-ended"
            )
        )
        return list(rows.scalars())


async def test_the_streak_roll_over_announces_a_streak_ended_at_the_learners_midnight(
    container: Container, db: Database
) -> None:
    three_days = [date(2030, 1, 3), date(2030, 1, 4), date(2030, 1, 5)]
    # 2030-01-06 15:00 UTC is midnight of the 7th in Tokyo: the 6th went by without progress.
    tokyo = await _with_days(db, "Asia/Tokyo", three_days)
    going_on = await _with_days(db, "Asia/Tokyo", [*three_days, date(2030, 1, 6)])
    single_day = await _with_days(db, "Asia/Tokyo", [date(2030, 1, 5)])
    # In UTC it is 15:00 on the 6th: the streak may still go on today.
    in_utc = await _with_days(db, "UTC", three_days)
    tokyo_midnight = datetime(2030, 1, 6, 15, 0, tzinfo=UTC)

    await run_slot(container, "progress-streak-rollover", tokyo_midnight)
    await run_slot(container, "progress-streak-rollover", tokyo_midnight + timedelta(hours=1))

    assert await _streak_notifications(db, tokyo) == [
        "Your 3-day streak ended on 2030-01-05. A topic today starts a new one."
    ]
    for learner in (going_on, single_day, in_utc):
        assert await _streak_notifications(db, learner) == []
    # UTC's midnight of the 7th: the same 3 days have ended there now.
    await run_slot(container, "progress-streak-rollover", datetime(2030, 1, 7, 0, 0, tzinfo=UTC))
    assert len(await _streak_notifications(db, in_utc)) == 1
    assert len(await _streak_notifications(db, tokyo)) == 1


async def test_housekeeping_deletes_expired_email_tokens_and_sessions(
    container: Container, db: Database
) -> None:
    slot = datetime(2030, 1, 7, 12, 5, tzinfo=UTC)
    owner = await new_account(db)
    async with db.transaction() as conn:
        for purpose, expires_at in (
            ("verify", slot - timedelta(hours=1)),
            ("reset", slot + timedelta(hours=1)),
        ):
            await conn.execute(
                insert(email_tokens).values(
                    id=uuid.uuid4(),
                    user_id=owner.id,
                    purpose=purpose,
                    token_hash=uuid.uuid4().hex,
                    created_at=slot - timedelta(days=1),
                    expires_at=expires_at,
                )
            )
    await container.stores.sessions.create(session("gone", expires_at=slot.timestamp() - 1))
    await container.stores.sessions.create(session("live", expires_at=slot.timestamp() + 60))

    await run_slot(container, "expired-email-tokens", slot)

    async with db.read() as conn:
        left = (await conn.execute(select(email_tokens.c.purpose))).scalars().all()
        done = await conn.scalar(
            select(func.count())
            .select_from(outbox_table)
            .where(outbox_table.c.kind.like("schedule.expired-%"), outbox_table.c.state == "done")
        )
    assert left == ["reset"]
    assert await column(db, ephemeral_sessions, "id_hash") == {"live"}
    assert (done or 0) >= 2  # tokens and sessions, each a job of its own


async def test_the_digest_opt_out_is_the_accounts_own_setting(
    client: AsyncTestClient[Litestar], signed_in: dict[str, str]
) -> None:
    assert (await client.get("/api/v1/me", headers=signed_in)).json()["weekly_digest"] is True
    changed = await client.patch("/api/v1/me", json={"weekly_digest": False}, headers=signed_in)
    assert changed.status_code == 200, changed.text
    assert changed.json()["weekly_digest"] is False
    refused = await client.patch("/api/v1/me", json={"weekly_digest": "nope"}, headers=signed_in)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
