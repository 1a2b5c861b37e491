"""A group's progress (a team's view of a roadmap), worked out from its learners' read models
as `ProgressService.of_members` reads them, is what their statuses say once the hidden topics
are left out: for any statuses and any hidden set."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from waymark.features.progress import rules
from waymark.features.progress.cohorts import LearnerRow
from waymark.features.progress.schemas import STATUSES, Status
from waymark.features.roadmaps import document
from waymark.features.roadmaps.schemas import CurrentRoadmap, RoadmapDetail, Section, Topic

WHEN = datetime(2026, 11, 30, tzinfo=UTC)
SPEC = document.load(document.builtin_path("backend"))
CURRENT = CurrentRoadmap(
    id=1,
    detail=RoadmapDetail(
        slug=SPEC.slug,
        title=SPEC.title,
        description=SPEC.description,
        version=1,
        updated_at=WHEN,
        sections=[
            Section(
                id=s.id,
                title=s.title,
                description=s.description,
                position=i,
                topics=[
                    Topic(
                        id=t.id, title=t.title, description=t.description, kind=t.kind, position=j
                    )
                    for j, t in enumerate(s.topics, start=1)
                ],
            )
            for i, s in enumerate(SPEC.sections, start=1)
        ],
    ),
)
TOPICS = CURRENT.topic_ids()

statuses = st.dictionaries(st.sampled_from(TOPICS), st.sampled_from(STATUSES), max_size=20)


@given(st.lists(statuses, max_size=5), st.sets(st.sampled_from(TOPICS), max_size=10))
def test_a_groups_progress_is_its_learners_statuses_without_the_hidden_topics(
    learners_statuses: list[dict[str, Status]], hidden: set[str]
) -> None:
    learners = [uuid.UUID(int=index + 1) for index in range(len(learners_statuses))]
    # The read models as the progress feature keeps them.
    rows: dict[uuid.UUID, LearnerRow] = {}
    tallies: Counter[tuple[str, Status]] = Counter()
    in_hidden: Counter[tuple[uuid.UUID, Status]] = Counter()
    for learner, statuses_of in zip(learners, learners_statuses, strict=True):
        if statuses_of:
            done, learning, skipped = rules.tally(CURRENT, statuses_of).roadmap
            rows[learner] = LearnerRow(
                done=done, learning=learning, skipped=skipped, last_activity_at=WHEN
            )
        for topic, status in statuses_of.items():
            if status != "pending":
                tallies[(topic, status)] += 1
                if topic in hidden:
                    in_hidden[(learner, status)] += 1
    visible = [topic for topic in TOPICS if topic not in hidden]

    group = rules.group_progress(
        CURRENT, visible, learners, rows=rows, tallies=tallies, in_hidden=in_hidden
    )

    assert group.topic_ids == visible
    for learner, statuses_of, shown in zip(
        learners, learners_statuses, group.learners, strict=True
    ):
        seen = Counter(statuses_of.get(topic, "pending") for topic in visible)
        assert shown.account_id == learner
        assert shown.counts == rules.counts(
            seen["done"], seen["learning"], seen["skipped"], len(visible)
        )
        assert shown.last_activity_at == (WHEN if statuses_of else None)
    for tally in group.topics:
        seen = Counter(s.get(tally.topic_id, "pending") for s in learners_statuses)
        assert (tally.done, tally.learning, tally.skipped, tally.pending) == (
            seen["done"],
            seen["learning"],
            seen["skipped"],
            seen["pending"],
        )
    assert group.overall.total == len(visible) * len(learners)
    assert group.overall.done == sum(shown.counts.done for shown in group.learners)


def test_counts_a_recount_has_not_caught_up_with_are_kept_within_the_topics() -> None:
    """Read models a new version's recount has not reached yet may count more than the
    topics there are now, or less on hidden topics than the tallies say: a learner's counts
    are trimmed, skipped first then learning, and never go below zero."""
    ahead, behind = uuid.UUID(int=1), uuid.UUID(int=2)
    visible = TOPICS[:10]
    rows = {
        ahead: LearnerRow(done=8, learning=3, skipped=4, last_activity_at=WHEN),
        behind: LearnerRow(done=1, learning=0, skipped=2, last_activity_at=WHEN),
    }
    in_hidden = {(behind, "done"): 3, (behind, "skipped"): 1}

    group = rules.group_progress(
        CURRENT, visible, [ahead, behind], rows=rows, tallies={}, in_hidden=in_hidden
    )

    first, second = (shown.counts for shown in group.learners)
    assert (first.done, first.learning, first.skipped, first.pending) == (8, 2, 0, 0)
    assert (second.done, second.learning, second.skipped, second.pending) == (0, 0, 1, 9)
    assert (group.overall.done, group.overall.skipped, group.overall.total) == (8, 1, 20)
