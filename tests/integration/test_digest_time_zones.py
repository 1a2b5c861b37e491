"""The weekly digest at 08:00 on Mondays in each learner's own time zone, once a week: the
container's scheduler ticks through March 2030 (New York moves to summer time on Sunday the
10th) as production would, its relay delivers the slots and the mails they queue, on SQLite
and PostgreSQL. Time is driven: every tick and delivery is given its `now`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.auth_helpers import mails, text_of
from tests.integration.progress_support import TOPICS, new_account
from tests.integration.test_scheduled_jobs import DIGEST, drain
from waymark.container import Container
from waymark.features.progress.tables import progress_digests
from waymark.infra.scheduler import ScheduledRun
from waymark.infra.scheduler.build import build_scheduler
from waymark.infra.sql.database import Database
from waymark.kernel.identity import Account
from waymark.settings import Settings

QUARTER = timedelta(minutes=15)
NEVER = "0 0 1 1 *"  # the other jobs, out of the way of these ticks
ZONES = ["Pacific/Auckland", "America/New_York", "Asia/Kolkata", "UTC"]
# Each zone's Monday 08:00, in UTC, on March 4th and 11th 2030: Auckland is at +13 (summer),
# Kolkata at +05:30, New York at -05 and then, from the 10th, at -04.
EXPECTED = {
    "Pacific/Auckland": [datetime(2030, 3, 3, 19, 0), datetime(2030, 3, 10, 19, 0)],
    "America/New_York": [datetime(2030, 3, 4, 13, 0), datetime(2030, 3, 11, 12, 0)],
    "Asia/Kolkata": [datetime(2030, 3, 4, 2, 30), datetime(2030, 3, 11, 2, 30)],
    "UTC": [datetime(2030, 3, 4, 8, 0), datetime(2030, 3, 11, 8, 0)],
}


@pytest.fixture
async def container(settings: Settings, backend_roadmap: None) -> AsyncIterator[Container]:
    quiet = settings.model_copy(
        update={
            "maintenance": settings.maintenance.model_copy(update={"cron": NEVER}),
            "scheduler": settings.scheduler.model_copy(
                update={"cron": {"progress-streak-rollover": NEVER, "notes-link-check": NEVER}}
            ),
        }
    )
    built = Container(quiet)
    yield built
    await built.aclose()


async def learner_in(container: Container, db: Database, time_zone: str) -> Account:
    learner = await new_account(db)
    await container.accounts.profiles.update(learner.id, {"time_zone": time_zone})
    return learner


async def progress_at(container: Container, learner: Account, topic: str, at: datetime) -> None:
    container.clock.offset = (at - datetime.now(UTC)).total_seconds()
    try:
        await container.progress.set_status(learner, "backend", topic, "done")
    finally:
        container.clock.offset = 0


async def tick(container: Container, now: datetime) -> None:
    await container.scheduler.tick(now)
    await drain(container, now)


def quarters(start: datetime, end: datetime, step: timedelta = QUARTER) -> Iterator[datetime]:
    moment = start
    while moment <= end:
        yield moment
        moment += step


async def digests(db: Database, learner: Account) -> list[tuple[date, datetime, datetime]]:
    """The learner's digest weeks: (week, slot, when it was dealt with)."""
    d = progress_digests
    async with db.read() as conn:
        rows = await conn.execute(
            select(d.c.week, d.c.slot_at, d.c.recorded_at)
            .where(d.c.user_id == learner.id)
            .order_by(d.c.week)
        )
        return [(row.week, row.slot_at, row.recorded_at) for row in rows]


async def test_each_learner_gets_the_digest_at_8_on_monday_in_their_zone_once_a_week(
    container: Container, db: Database, mail_dir: Path
) -> None:
    learners = {zone: await learner_in(container, db, zone) for zone in ZONES}
    opted_out = await learner_in(container, db, "UTC")
    await container.accounts.profiles.update(opted_out.id, {"weekly_digest": False})
    for learner in [*learners.values(), opted_out]:
        await progress_at(container, learner, TOPICS[0], datetime(2030, 3, 1, 12, tzinfo=UTC))
        await progress_at(container, learner, TOPICS[1], datetime(2030, 3, 6, 12, tzinfo=UTC))

    # Every quarter of an hour around each zone's expected instant, every third hour between:
    # a digest dealt with at any other tick would be recorded at that tick.
    near = [slot.replace(tzinfo=UTC) for slots in EXPECTED.values() for slot in slots]
    start, end = datetime(2030, 3, 3, 0, 0, tzinfo=UTC), datetime(2030, 3, 11, 16, 0, tzinfo=UTC)
    for moment in quarters(start, end):
        close = any(-timedelta(hours=1) <= moment - slot <= timedelta(minutes=30) for slot in near)
        if close or (moment.minute == 0 and moment.hour % 3 == 0):
            await tick(container, moment)

    for zone, learner in learners.items():
        expected = [slot.replace(tzinfo=UTC) for slot in EXPECTED[zone]]
        # One per week, dealt with at the learner's 08:00 exactly (the slot that reached it);
        # the first row is the week before, found with nothing to tell at the first tick.
        assert (await digests(db, learner))[1:] == [
            (date(2030, 3, 4), expected[0], expected[0]),
            (date(2030, 3, 11), expected[1], expected[1]),
        ], zone
        sent = mails(mail_dir, learner.email, DIGEST)
        assert len(sent) == 2, zone
        assert "from 2030-02-25 to 2030-03-03 you made 1 change(s)" in text_of(sent[0])
        assert "from 2030-03-04 to 2030-03-10 you made 1 change(s)" in text_of(sent[1])
    assert mails(mail_dir, opted_out.email, DIGEST) == []
    assert await digests(db, opted_out) == []


async def test_two_schedulers_on_one_slot_and_a_redelivery_mail_once(
    container: Container, db: Database, settings: Settings, mail_dir: Path
) -> None:
    learner = await learner_in(container, db, "Asia/Kolkata")
    await progress_at(container, learner, TOPICS[0], datetime(2030, 3, 1, 12, tzinfo=UTC))
    other, close = build_scheduler(
        settings, db, container.outbox, container.schedules, clock=container.clock.now
    )
    try:
        slot = datetime(2030, 3, 4, 2, 30, tzinfo=UTC)
        now = slot + timedelta(seconds=5)
        took = [await s.tick(now) for s in (container.scheduler, other)]
        assert sum(o.job == "progress-digest" for outcomes in took for o in outcomes) == 1
        await drain(container, now)
        # The same slot's handler run again (the outbox delivers at least once).
        job = container.schedules.get("progress-digest")
        assert job is not None
        again = ScheduledRun(job="progress-digest", slot=slot)
        assert await job.handler(again) == 0  # type: ignore[call-arg]  # not transactional
        await drain(container, now + timedelta(seconds=1))
    finally:
        await close()
    assert len(mails(mail_dir, learner.email, DIGEST)) == 1


async def test_a_catch_up_after_downtime_mails_each_learner_once(
    container: Container, db: Database, mail_dir: Path
) -> None:
    learners = [await learner_in(container, db, zone) for zone in ZONES]
    for learner in learners:
        await progress_at(container, learner, TOPICS[0], datetime(2030, 3, 1, 12, tzinfo=UTC))
    await tick(container, datetime(2030, 3, 3, 12, 0, tzinfo=UTC))  # the job has run before
    # Down from Sunday noon to Wednesday: one late slot stands for all the missed ones.
    for moment in quarters(
        datetime(2030, 3, 6, 9, 0, tzinfo=UTC), datetime(2030, 3, 6, 10, 0, tzinfo=UTC)
    ):
        await tick(container, moment)
    for learner in learners:
        # The week before, dealt with (nothing to tell) on Sunday; this one by the catch-up.
        weeks = [(week, recorded) for week, _, recorded in await digests(db, learner)]
        assert weeks == [
            (date(2030, 2, 25), datetime(2030, 3, 3, 12, 0, tzinfo=UTC)),
            (date(2030, 3, 4), datetime(2030, 3, 6, 9, 0, tzinfo=UTC)),
        ]
        assert len(mails(mail_dir, learner.email, DIGEST)) == 1


async def test_a_learner_moving_west_after_the_digest_gets_no_second_one_that_week(
    container: Container, db: Database, mail_dir: Path
) -> None:
    learner = await learner_in(container, db, "Pacific/Auckland")
    await progress_at(container, learner, TOPICS[0], datetime(2030, 3, 1, 12, tzinfo=UTC))
    await tick(container, datetime(2030, 3, 3, 19, 0, tzinfo=UTC))  # Monday 08:00 there
    assert len(mails(mail_dir, learner.email, DIGEST)) == 1
    # Flown to New York, where Monday 08:00 comes eighteen hours later: the same week.
    await container.accounts.profiles.update(learner.id, {"time_zone": "America/New_York"})
    for moment in quarters(
        datetime(2030, 3, 4, 12, 0, tzinfo=UTC), datetime(2030, 3, 4, 14, 0, tzinfo=UTC)
    ):
        await tick(container, moment)
    assert len(mails(mail_dir, learner.email, DIGEST)) == 1
    assert [week for week, _, _ in await digests(db, learner)] == [date(2030, 3, 4)]
