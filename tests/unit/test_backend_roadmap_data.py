"""The shipped backend roadmap is faithful to the seed text it was written from."""

from __future__ import annotations

from pathlib import Path

from waymark.features.roadmaps import document

SEED = Path(__file__).parents[1] / "fixtures" / "backend-roadmap.txt"
SECTION_ORDER = [
    "language",
    "framework",
    "databases",
    "authentication",
    "api-design",
    "async-realtime",
    "security",
    "deployment",
]
CORE_COUNTS = [6, 3, 3, 3, 3, 3, 3, 3]


def _seed_topics() -> list[tuple[str, str]]:
    """(title, description) pairs in seed order: all core topics, then all extras."""
    lines = SEED.read_text().splitlines()[3:]
    topics: list[tuple[str, str]] = []
    index = 0
    for count in CORE_COUNTS:
        index += 1  # the section's description line
        for _ in range(count):
            topics.append((lines[index], lines[index + 1]))
            index += 2
    while index < len(lines):
        topics.append((lines[index], lines[index + 1]))
        index += 2
    return topics


def test_sections_in_seed_order_with_core_topics_first() -> None:
    spec = document.load(document.builtin_path("backend"))
    assert [s.id for s in spec.sections] == SECTION_ORDER
    for section, core_count in zip(spec.sections, CORE_COUNTS, strict=True):
        kinds = [t.kind for t in section.topics]
        assert kinds[:core_count] == ["core"] * core_count, section.id
        assert set(kinds[core_count:]) <= {"extra"}, section.id


def test_every_seed_topic_once_with_its_description_in_order() -> None:
    spec = document.load(document.builtin_path("backend"))
    core = [(t.title, t.description) for s in spec.sections for t in s.topics if t.kind == "core"]
    extra = [(t.title, t.description) for s in spec.sections for t in s.topics if t.kind == "extra"]
    seed = _seed_topics()
    assert len(seed) == 45
    assert core == seed[: len(core)]
    assert extra == seed[len(core) :]
    assert len(core) == 27
    assert len(extra) == 18


def test_section_descriptions_come_from_the_seed() -> None:
    spec = document.load(document.builtin_path("backend"))
    seed_lines = SEED.read_text().splitlines()
    for section in spec.sections:
        assert section.description in seed_lines


def test_topic_ids_are_stable_and_prefixed_by_their_section() -> None:
    spec = document.load(document.builtin_path("backend"))
    ids = [t.id for s in spec.sections for t in s.topics]
    assert len(set(ids)) == 45
    assert "databases.postgresql" in ids
    for section in spec.sections:
        assert all(t.id.startswith(section.id + ".") for t in section.topics)
