"""The rules of progress as pure functions of a roadmap's current content and a learner's
statuses: counts, next up, what changed between versions, streaks. The service, the rebuild
and the tests all use these, so live and rebuilt read models agree by construction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from waymark.features.progress.cohorts import LearnerRow
from waymark.features.progress.repository import Tallies
from waymark.features.progress.schemas import (
    FINISHED,
    Changes,
    Counts,
    ExportedEvent,
    GroupProgress,
    LearnerCounts,
    Status,
    TopicTally,
)
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


def group_progress(
    roadmap: CurrentRoadmap,
    visible: Sequence[str],
    learners: Sequence[uuid.UUID],
    *,
    rows: Mapping[uuid.UUID, LearnerRow],
    tallies: Mapping[tuple[str, Status], int],
    in_hidden: Mapping[tuple[uuid.UUID, Status], int],
) -> GroupProgress:
    """A group's progress on a roadmap from its learners' read models: each learner's
    counts are their roadmap's counts less what they have on hidden topics (`in_hidden`),
    among the `visible` topics; `tallies` counts learners per (topic, status)."""
    total = len(visible)
    per_learner: list[LearnerCounts] = []
    sum_done = sum_learning = sum_skipped = 0
    for learner in learners:
        row = rows.get(learner)
        if row is None:
            done = learning = skipped = 0
        else:
            # Never below zero, nor more than there are topics: a recount after a new version
            # of the roadmap may not have run yet.
            done, learning, skipped = row.done, row.learning, row.skipped
            if in_hidden:
                done -= in_hidden.get((learner, "done"), 0)
                learning -= in_hidden.get((learner, "learning"), 0)
                skipped -= in_hidden.get((learner, "skipped"), 0)
            done, learning, skipped = max(0, done), max(0, learning), max(0, skipped)
            if done + learning + skipped > total:
                done, learning, skipped = _capped([done, learning, skipped], total)
        sum_done += done
        sum_learning += learning
        sum_skipped += skipped
        per_learner.append(
            LearnerCounts(
                account_id=learner,
                counts=counts(done, learning, skipped, total),
                last_activity_at=row.last_activity_at if row else None,
            )
        )
    topics = []
    for topic in visible:
        done = tallies.get((topic, "done"), 0)
        learning = tallies.get((topic, "learning"), 0)
        skipped = tallies.get((topic, "skipped"), 0)
        topics.append(
            TopicTally(
                topic_id=topic,
                done=done,
                learning=learning,
                skipped=skipped,
                pending=max(0, len(learners) - done - learning - skipped),
            )
        )
    activity = [row.last_activity_at for row in rows.values()]
    return GroupProgress(
        slug=roadmap.slug,
        title=roadmap.detail.title,
        version=roadmap.version,
        topic_ids=list(visible),
        learners=per_learner,
        topics=topics,
        overall=counts(sum_done, sum_learning, sum_skipped, total * len(learners)),
        last_activity_at=max(activity) if activity else None,
    )


def _capped(values: list[int], total: int) -> list[int]:
    """Done, learning and skipped trimmed (last first) so that they add up to `total` at
    most."""
    excess = sum(values) - total
    for index in (2, 1, 0):
        if excess <= 0:
            break
        cut = min(excess, values[index])
        values[index] -= cut
        excess -= cut
    return values


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
