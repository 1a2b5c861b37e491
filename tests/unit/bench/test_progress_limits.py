"""What the progress limits work out themselves (`bench/limits/_progress.py`) against the
app's own (`waymark.features.progress`), on random statuses: they answer what the app does."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from bench.limits._progress import Roadmap, etag
from hypothesis import given
from hypothesis import strategies as st

from waymark.features.progress import rules, service
from waymark.features.progress.schemas import STATUSES
from waymark.features.roadmaps import document
from waymark.features.roadmaps.schemas import CurrentRoadmap, RoadmapDetail, Section, Topic

SPEC = document.load(document.builtin_path("backend"))
CURRENT = CurrentRoadmap(
    id=1,
    detail=RoadmapDetail(
        slug=SPEC.slug,
        title=SPEC.title,
        description=SPEC.description,
        version=3,
        updated_at=datetime(2026, 11, 30, tzinfo=UTC),
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
# What the limits keep: the roadmap's public JSON, as the scenarios read it from the app.
LIMIT = Roadmap(msgspec.json.decode(msgspec.json.encode(CURRENT.detail)))
TOPICS = CURRENT.topic_ids()

statuses = st.dictionaries(
    st.sampled_from([*TOPICS, "retired.topic"]), st.sampled_from(STATUSES), max_size=60
)


@given(statuses)
def test_next_up_is_the_apps(known: dict[str, str]) -> None:
    assert LIMIT.next_up(known) == rules.next_up(CURRENT, known)  # type: ignore[arg-type]


@given(statuses)
def test_section_counts_are_the_apps(known: dict[str, str]) -> None:
    assert LIMIT.section_tallies(known) == rules.tally(CURRENT, known).sections  # type: ignore[arg-type]


def test_the_roadmap_in_memory_is_the_apps() -> None:
    assert LIMIT.topic_ids == TOPICS
    assert LIMIT.total == len(TOPICS)
    assert LIMIT.version == CURRENT.version
    assert all(LIMIT.section_of[t.id] == s.id for s in SPEC.sections for t in s.topics)
    assert LIMIT.sections == [(s.id, s.title, len(s.topics)) for s in CURRENT.detail.sections]


@given(st.integers(0, 10**6), st.integers(1, 99), st.one_of(st.none(), st.integers(1, 99)))
def test_the_etag_is_the_apps(last_seq: int, version: int, seen: int | None) -> None:
    assert etag(last_seq, version, seen) == service.etag(last_seq, version, seen)
