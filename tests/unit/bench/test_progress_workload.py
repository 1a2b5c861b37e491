"""`progress-put`'s order of changes (`bench/scenarios/_progress.py`): from the statuses its
learners start with, every request changes a status, even after one request was lost; a whole
cycle ends where it began (so lanes can go round and round), and no learner ever completes
the roadmap."""

from __future__ import annotations

from bench.scenarios._progress import change_cycle, starting_statuses
from bench.scenarios.progress_get import mix
from hypothesis import given
from hypothesis import strategies as st

from waymark.features.progress.schemas import FINISHED, STATUSES
from waymark.features.roadmaps import document

BACKEND = [t.id for s in document.load(document.builtin_path("backend")).sections for t in s.topics]


def _topics(n: int) -> list[str]:
    return [f"section.topic-{i}" for i in range(n)]


@given(st.integers(min_value=4, max_value=120), st.integers(min_value=1, max_value=4))
def test_every_change_is_a_change_round_after_round(n: int, cycles: int) -> None:
    topics = _topics(n)
    statuses = starting_statuses(topics)
    start = dict(statuses)
    for _ in range(cycles):
        for topic, status in change_cycle(topics):
            assert statuses[topic] != status
            assert status in STATUSES
            statuses[topic] = status
            assert not all(s in FINISHED for s in statuses.values()), "the roadmap completed"
        assert statuses == start


def test_the_backend_roadmap_cycles_through_all_three_statuses() -> None:
    cycle = change_cycle(BACKEND)
    assert len(cycle) == 3 * len(BACKEND)
    assert {status for _, status in cycle} == {"learning", "done", "skipped"}
    assert set(starting_statuses(BACKEND).values()) == {"learning", "done", "skipped"}


@given(st.data())
def test_a_lost_request_costs_no_later_change(data: st.DataObject) -> None:
    """A request sent as a run ends may never be served; the next one for its topic must
    still change it."""
    cycle = change_cycle(BACKEND) * 2
    lost = data.draw(st.integers(min_value=0, max_value=len(cycle) - 1))
    statuses = starting_statuses(BACKEND)
    for index, (topic, status) in enumerate(cycle):
        if index == lost:
            continue
        assert statuses[topic] != status
        statuses[topic] = status


def test_a_topic_comes_back_only_after_every_other() -> None:
    """A lane's requests in flight together are a few consecutive ones: never the same topic
    twice, so none can overtake the change it depends on."""
    cycle = change_cycle(BACKEND)
    for index, (topic, _) in enumerate(cycle):
        later = [t for t, _ in cycle[index + 1 :] + cycle[: index + 1]]
        assert later.index(topic) == len(BACKEND) - 1


@given(st.integers(min_value=0, max_value=100))
def test_progress_get_learners_have_15_done_5_learning_2_skipped(learner: int) -> None:
    statuses = mix(BACKEND, learner)
    assert sorted(statuses.values()).count("done") == 15
    assert list(statuses.values()).count("learning") == 5
    assert list(statuses.values()).count("skipped") == 2
    assert set(statuses) <= set(BACKEND)
