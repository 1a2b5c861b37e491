"""The rules of progress as pure functions of a roadmap's current content and a learner's
statuses: counts, next up, what changed between versions, streaks. The service, the rebuild
and the tests all use these, so live and rebuilt read models agree by construction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from waymark.features.progress.repository import Tallies
from waymark.features.progress.schemas import FINISHED, Changes, Counts, ExportedEvent, Status
from waymark.features.roadmaps.schemas import CurrentRoadmap, RoadmapSpec
from waymark.kernel.errors import FieldError

NEXT_UP = 3


def tally(roadmap: CurrentRoadmap, statuses: Mapping[str, Status]) -> Tallies:
    """Done, learning and skipped among the roadmap's current topics, overall and per
    section. Statuses of retired topics are kept but never counted."""
    sections: dict[str, tuple[int, int, int]] = {}
    totals = [0, 0, 0]
    for section in roadmap.detail.sections:
        counts = [0, 0, 0]
        for topic in section.topics:
            status = statuses.get(topic.id, "pending")
            if status != "pending":
                index = ("done", "learning", "skipped").index(status)
                counts[index] += 1
                totals[index] += 1
        sections[section.id] = (counts[0], counts[1], counts[2])
    return Tallies(roadmap=(totals[0], totals[1], totals[2]), sections=sections)


def sections_with_statuses(roadmap: CurrentRoadmap, statuses: Mapping[str, Status]) -> list[str]:
    """The sections that have a row of counts: those with at least one current topic the
    learner ever changed (whatever its status now). Live changes, recounts and rebuilds all
    keep to this, so their read models are the same."""
    return [
        section.id
        for section in roadmap.detail.sections
        if any(topic.id in statuses for topic in section.topics)
    ]


def counts(done: int, learning: int, skipped: int, total: int) -> Counts:
    finished = done + skipped
    return Counts(
        done=done,
        learning=learning,
        skipped=skipped,
        pending=total - done - learning - skipped,
        total=total,
        percentage=round(100.0 * finished / total, 1) if total else 0.0,
    )


def is_complete(tallies: Tallies, roadmap: CurrentRoadmap) -> bool:
    total = len(roadmap.topic_ids())
    done, _, skipped = tallies.roadmap
    return total > 0 and done + skipped == total


def next_up(
    roadmap: CurrentRoadmap, statuses: Mapping[str, Status], *, n: int = NEXT_UP
) -> list[str]:
    """The first `n` topics neither done nor skipped, in roadmap order, core before extra."""
    topics = [topic for section in roadmap.detail.sections for topic in section.topics]
    ordered = [t for t in topics if t.kind == "core"] + [t for t in topics if t.kind != "core"]
    return [t.id for t in ordered if statuses.get(t.id, "pending") not in FINISHED][:n]


def changes(seen: RoadmapSpec, roadmap: CurrentRoadmap, *, since_version: int) -> Changes | None:
    """Topics added, changed (title, description, kind or section) and removed since the
    version `seen`; None when nothing did."""

    def index(
        pairs: Iterable[tuple[str, tuple[str, str, str, str]]],
    ) -> dict[str, tuple[str, str, str, str]]:
        return dict(pairs)

    before = index(
        (t.id, (t.title, t.description, t.kind, s.id)) for s in seen.sections for t in s.topics
    )
    now = index(
        (t.id, (t.title, t.description, t.kind, s.id))
        for s in roadmap.detail.sections
        for t in s.topics
    )
    added = [key for key in now if key not in before]
    changed = [key for key in now if key in before and before[key] != now[key]]
    removed = [key for key in before if key not in now]
    if not (added or changed or removed):
        return None
    return Changes(since_version=since_version, added=added, changed=changed, removed=removed)


def streaks(days: Iterable[date], *, today: date) -> tuple[int, int]:
    """(current, longest) runs of consecutive days. The current run ends today, or
    yesterday when today has no change yet (the day is not over)."""
    ordered = sorted(set(days))
    longest = run = 0
    previous: date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    current = run if previous is not None and today - previous <= timedelta(days=1) else 0
    if previous is not None and previous > today:  # a clock ahead: count what is known
        current = run
    return current, longest


def chain_problem(events: Sequence[ExportedEvent]) -> FieldError | None:
    """The first thing that makes `events` a log this app could not have written: numbers
    that do not increase, or a topic's change that does not start from the status its last
    change set (pending at first), or changes nothing. Paths are relative to the list."""
    statuses: dict[str, Status] = {}
    last = 0
    for index, event in enumerate(events):
        before = statuses.get(event.topic_id, "pending")
        if event.seq <= last:
            return FieldError(f"[{index}].seq", "numbers must increase")
        if event.from_status != before:
            return FieldError(f"[{index}].from_status", f"the topic's status before is {before!r}")
        if event.to_status == before:
            return FieldError(f"[{index}].to_status", "a change goes to another status")
        statuses[event.topic_id] = event.to_status
        last = event.seq
    return None
