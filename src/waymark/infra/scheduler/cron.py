"""Cron expressions in a time zone: the instants (UTC) a schedule fires at.

Five fields (`minute hour day month weekday`) or six with seconds first (`second minute
...`, as Quartz and BullMQ write them), parsed and iterated by `croniter`; the time zone
is an IANA name. What a daylight-saving change does:

- An expression with a fixed hour (`30 2 * * *`) fires once per matching wall-clock time:
  a time that does not exist (skipped by a spring-forward) fires at the first instant after
  the gap; a time that happens twice (fall-back) fires at its first occurrence only.
  (croniter alone fires such a time twice on the fall-back day.)
- An expression whose hour field is `*` is an interval: it fires in real time, so the
  repeated hour of a fall-back has its runs too, and the lost hour of a spring-forward has
  none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

MAX_SCAN = 10_000
"""Candidates looked at for one next instant at most (a fall-back hour of a per-second
schedule is 3,600 of them); beyond, the expression is taken as never firing again."""


class InvalidSchedule(ValueError):
    """A cron expression or time zone that cannot be used."""


class CronSchedule:
    """When one expression fires in one time zone; `next_after` and `latest_at_or_before`
    take and return aware datetimes (returned in UTC)."""

    def __init__(self, expression: str, time_zone: str = "UTC") -> None:
        fields = expression.split()
        if len(fields) not in (5, 6):
            raise InvalidSchedule(f"{expression!r}: a cron expression has 5 or 6 fields")
        try:
            self.zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidSchedule(f"{time_zone!r} is not an IANA time zone") from exc
        self.seconds = len(fields) == 6
        if not croniter.is_valid(expression, second_at_beginning=self.seconds):
            raise InvalidSchedule(f"{expression!r} is not a valid cron expression")
        self.expression = expression
        self.time_zone = time_zone
        hour = fields[2] if self.seconds else fields[1]
        self.wall_clock = hour != "*"

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.time_zone!r})"

    def next_after(self, moment: datetime) -> datetime | None:
        """The first instant strictly after `moment` that the schedule fires at."""
        if not self.wall_clock:
            it = self._iter(moment.astimezone(self.zone))
            return _utc(it.get_next(datetime))
        # Wall-clock times, each mapped to one instant; a time in a repeated hour maps to an
        # instant before `moment` and is passed over.
        local = moment.astimezone(self.zone).replace(tzinfo=None, fold=0)
        it = self._iter(local)
        for _ in range(MAX_SCAN):
            try:
                candidate = self._instant(it.get_next(datetime))
            except CroniterError:
                return None
            if candidate > moment:
                return candidate
        return None

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last instant at or before `moment` the schedule fired at (None if none
        within a year)."""
        local = moment.astimezone(self.zone) + timedelta(seconds=1)
        it = self._iter(local.replace(tzinfo=None, fold=0) if self.wall_clock else local)
        for _ in range(MAX_SCAN):
            try:
                previous = it.get_prev(datetime)
            except CroniterError:
                return None
            candidate = self._instant(previous) if self.wall_clock else _utc(previous)
            if moment - candidate > timedelta(days=366):
                return None
            if candidate <= moment:
                # In the second pass of a fall-back, the wall clock reads earlier than the
                # times that already fired: step forward to the last one.
                return self._settle(candidate, moment) if self.wall_clock else candidate
        return None

    def _settle(self, start: datetime, moment: datetime) -> datetime:
        """The last instant from `start` (which fires) on that is at or before `moment`."""
        last = start
        while (step := self.next_after(last)) is not None and step <= moment:
            last = step
        return last

    def _iter(self, start: datetime) -> croniter:
        return croniter(self.expression, start, second_at_beginning=self.seconds)

    def _instant(self, wall: datetime) -> datetime:
        """The instant of a wall-clock time in the zone: its first occurrence, or for a time
        inside a spring-forward gap, the instant the gap ends."""
        wall = wall.replace(tzinfo=None)
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        # In the gap: fold=0 reads it with the offset before, fold=1 with the offset after;
        # the gap ends somewhere between, where the wall clock passes `wall`.
        low = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        high = first
        low, high = min(low, high), max(low, high)
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(self.zone).replace(tzinfo=None) >= wall:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
