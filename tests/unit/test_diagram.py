"""The roadmap diagram's layout: every topic placed once, on its side of the spine, in its
status; nothing overlaps; long titles are shortened for the picture only."""

from __future__ import annotations

import itertools

import msgspec

from tests.conftest import BACKEND_ROADMAP
from waymark.features.roadmaps import document
from waymark.features.roadmaps.schemas import RoadmapDetail
from waymark.web.diagram import SPINE_X, TOPIC_LABEL_CHARS, Box, lay_out


def backend() -> RoadmapDetail:
    spec = document.load(BACKEND_ROADMAP)
    raw = {
        "slug": spec.slug,
        "title": spec.title,
        "description": spec.description,
        "version": 1,
        "updated_at": "2026-11-30T00:00:00Z",
        "sections": [
            {
                "id": s.id,
                "title": s.title,
                "description": s.description,
                "position": i,
                "topics": [
                    {
                        "id": t.id,
                        "title": t.title,
                        "description": t.description,
                        "kind": t.kind,
                        "position": j,
                    }
                    for j, t in enumerate(s.topics, start=1)
                ],
            }
            for i, s in enumerate(spec.sections, start=1)
        ],
    }
    return msgspec.convert(raw, type=RoadmapDetail)


def test_every_topic_once_in_roadmap_order_and_on_its_side() -> None:
    roadmap = backend()
    diagram = lay_out(roadmap)
    placed = [node for section in diagram.sections for node in section.topics]
    assert [n.topic.id for n in placed] == [t.id for s in roadmap.sections for t in s.topics]
    for node in placed:
        right_of_spine = node.box.x > SPINE_X
        assert right_of_spine == (node.topic.kind == "extra")
        assert node.status == "pending"
    assert [s.number for s in diagram.sections] == list(range(1, 9))


def test_edges_join_each_topic_to_its_section_and_the_sections_in_order() -> None:
    diagram = lay_out(backend())
    kinds = [edge.kind for edge in diagram.edges]
    assert kinds.count("spine") == 7
    assert kinds.count("core") == 27
    assert kinds.count("extra") == 18
    tops = [s.box.y for s in diagram.sections]
    assert tops == sorted(tops)


def test_nothing_overlaps_and_everything_is_inside() -> None:
    diagram = lay_out(backend())
    boxes: list[Box] = [s.box for s in diagram.sections] + [
        n.box for s in diagram.sections for n in s.topics
    ]
    for a, b in itertools.combinations(boxes, 2):
        apart = (
            a.x + a.width <= b.x
            or b.x + b.width <= a.x
            or a.y + a.height <= b.y
            or b.y + b.height <= a.y
        )
        assert apart, (a, b)
    for box in boxes:
        assert box.x >= 0
        assert box.x + box.width <= diagram.width
        assert box.y >= 0
        assert box.y + box.height <= diagram.height


def test_statuses_come_from_the_caller_and_unknown_ones_are_pending() -> None:
    diagram = lay_out(
        backend(),
        {"databases.redis": "done", "language.python": "learning", "api-design.grpc": "bogus"},
    )
    status = {n.topic.id: n.status for s in diagram.sections for n in s.topics}
    assert status["databases.redis"] == "done"
    assert status["language.python"] == "learning"
    assert status["api-design.grpc"] == "pending"
    counts = diagram.status_counts()
    assert counts == {"pending": 43, "learning": 1, "done": 1, "skipped": 0}


def test_long_titles_are_shortened_in_the_picture_only() -> None:
    roadmap = backend()
    roadmap.sections[0].topics[0].title = "A very long topic title that cannot fit in its box"
    node = lay_out(roadmap).sections[0].topics[0]
    assert len(node.label) == TOPIC_LABEL_CHARS
    assert node.label.endswith("\u2026")
    assert node.topic.title.startswith("A very long")
