"""Cron schedules in time zones, across daylight-saving changes (Europe/Paris: 2026-03-29
02:00 -> 03:00, 2026-10-25 03:00 -> 02:00; New York on other dates), and the registry of
scheduled jobs (overrides by name)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from waymark.infra.outbox import HandlerRegistry
from waymark.infra.scheduler import ScheduledJobs, ScheduledRun
from waymark.infra.scheduler.cron import CronSchedule, InvalidSchedule


def fires(schedule: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    found, moment = [], start
    while (moment := schedule.next_after(moment)) is not None and moment <= end:  # type: ignore[assignment]
        found.append(moment)
    return found


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_daily_time_repeated_by_the_fall_back_fires_once_at_its_first_occurrence() -> None:
    daily = CronSchedule("30 2 * * *", "Europe/Paris")
    assert fires(daily, utc(2026, 10, 23, 12), utc(2026, 10, 26, 12)) == [
        utc(2026, 10, 24, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, first pass; not again at 02:30 CET (01:30Z)
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
    ]


def test_a_daily_time_skipped_by_the_spring_forward_fires_when_the_gap_ends() -> None:
    daily = CronSchedule("30 2 * * *", "Europe/Paris")
    assert fires(daily, utc(2026, 3, 27, 12), utc(2026, 3, 30, 12)) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST, once
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]


def test_an_hourly_schedule_runs_in_real_time_through_both_changes() -> None:
    hourly = CronSchedule("0 * * * *", "Europe/Paris")
    for start in (utc(2026, 10, 24, 22), utc(2026, 3, 28, 23)):
        found = fires(hourly, start, start + timedelta(hours=24))
        assert len(found) == 24
        assert {b - a for a, b in pairwise(found)} == {timedelta(hours=1)}


def test_the_latest_slot_in_the_repeated_hour_is_its_first_pass() -> None:
    daily = CronSchedule("30 2 * * *", "Europe/Paris")
    # 02:15 CET, in the second pass: 02:30 already fired, 45 minutes before, in CEST.
    assert daily.latest_at_or_before(utc(2026, 10, 25, 1, 15)) == utc(2026, 10, 25, 0, 30)
    assert daily.latest_at_or_before(utc(2026, 10, 25, 0, 29)) == utc(2026, 10, 24, 0, 30)
    assert daily.latest_at_or_before(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 1, 0)


def test_a_weekly_schedule_is_the_zones_local_time_in_summer_and_winter() -> None:
    monday_eight = CronSchedule("0 8 * * 1", "America/New_York")
    assert monday_eight.next_after(utc(2026, 7, 1)) == utc(2026, 7, 6, 12)  # EDT, UTC-4
    assert monday_eight.next_after(utc(2026, 12, 1)) == utc(2026, 12, 7, 13)  # EST, UTC-5


def test_six_fields_put_seconds_first() -> None:
    every_ten = CronSchedule("*/10 * * * * *")
    assert every_ten.next_after(utc(2026, 1, 1, 0, 0, 3)) == utc(2026, 1, 1, 0, 0, 10)
    assert every_ten.latest_at_or_before(utc(2026, 1, 1, 0, 0, 19)) == utc(2026, 1, 1, 0, 0, 10)


@pytest.mark.parametrize(
    ("expression", "zone"),
    [("* * *", "UTC"), ("61 * * * *", "UTC"), ("* * * * * * *", "UTC"), ("0 8 * * 1", "Mars/Base")],
)
def test_a_bad_expression_or_zone_is_refused(expression: str, zone: str) -> None:
    with pytest.raises(InvalidSchedule):
        CronSchedule(expression, zone)


async def _noop(run: ScheduledRun) -> None:
    return None


def test_overrides_replace_a_jobs_expression_and_name_only_jobs_that_exist() -> None:
    jobs = ScheduledJobs(HandlerRegistry(), overrides={"digest": "0 9 * * 1"})
    job = jobs.add("digest", "0 8 * * 1", _noop, time_zone="Europe/Paris")
    assert job.schedule.expression == "0 9 * * 1"
    assert job.kind in jobs.handlers.kinds  # its slots are outbox messages of its own kind
    jobs.check_overrides()
    with pytest.raises(ValueError, match="already registered"):
        jobs.add("digest", "* * * * *", _noop)
    typo = ScheduledJobs(HandlerRegistry(), overrides={"digets": "0 9 * * 1"})
    typo.add("digest", "0 8 * * 1", _noop)
    with pytest.raises(InvalidSchedule, match="digets"):
        typo.check_overrides()
    with pytest.raises(InvalidSchedule, match="scheduled job 'bad'"):
        ScheduledJobs(HandlerRegistry(), overrides={"bad": "61 * * * *"}).add(
            "bad", "* * * * *", _noop
        )
