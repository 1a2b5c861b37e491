"""The roadmap as a diagram: sections in order down a spine, each section's core topics to
its left and extra topics to its right, joined by edges. Laid out here, in numbers; drawn as
inline SVG by `templates/roadmap/_diagram.html`, so the server sends a finished picture
that needs no script to show and prints as it looks.

A topic's status (`pending`, `learning`, `done`, `skipped`) comes from whoever calls
`lay_out`: the learner's progress, or nothing (every topic pending).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from waymark.features.roadmaps.schemas import RoadmapDetail, Section, Topic

STATUS_LABELS: Final[dict[str, str]] = {
    "pending": "Not started",
    "learning": "Learning",
    "done": "Done",
    "skipped": "Skipped",
}
STATUS_KEYS: Final[dict[str, str]] = {
    "pending": "p",
    "learning": "l",
    "done": "d",
    "skipped": "s",
}
"""The key that sets each status on the roadmap's page (roadmap.js)."""
KIND_LABELS: Final[dict[str, str]] = {"core": "core topic", "extra": "extra topic"}

WIDTH = 1000
SPINE_X = WIDTH // 2
TOPIC_WIDTH, TOPIC_HEIGHT, TOPIC_GAP = 260, 40, 12
SECTION_WIDTH, SECTION_HEIGHT = 230, 52
SECTION_GAP = 56
MARGIN = 16
LEFT_X = MARGIN
RIGHT_X = WIDTH - MARGIN - TOPIC_WIDTH
TOPIC_LABEL_CHARS = 28
SECTION_LABEL_CHARS = 22


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def middle_y(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class TopicNode:
    topic: Topic
    box: Box
    status: str
    label: str
    """The title as drawn (shortened to fit); the full one is in its `<title>`."""

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.topic.kind]


@dataclass(frozen=True)
class SectionNode:
    section: Section
    number: int
    box: Box
    label: str
    core: list[TopicNode]
    extra: list[TopicNode]

    @property
    def topics(self) -> list[TopicNode]:
        """Every topic of the section, in roadmap order."""
        order = {topic.id: i for i, topic in enumerate(self.section.topics)}
        return sorted(self.core + self.extra, key=lambda node: order[node.topic.id])


@dataclass(frozen=True)
class Edge:
    kind: Literal["spine", "core", "extra"]
    path: str
    """SVG path data."""


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    sections: list[SectionNode]
    edges: list[Edge]

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUS_LABELS, 0)
        for section in self.sections:
            for node in section.topics:
                counts[node.status] += 1
        return counts


def lay_out(roadmap: RoadmapDetail, statuses: Mapping[str, str] | None = None) -> Diagram:
    """The diagram of `roadmap`, each topic in its status from `statuses` (by topic id;
    missing or unknown ones are pending)."""
    statuses = statuses or {}
    y = float(MARGIN)
    sections: list[SectionNode] = []
    edges: list[Edge] = []
    for number, section in enumerate(roadmap.sections, start=1):
        core = [t for t in section.topics if t.kind == "core"]
        extra = [t for t in section.topics if t.kind == "extra"]
        rows = max(len(core), len(extra), 1)
        block = max(rows * (TOPIC_HEIGHT + TOPIC_GAP) - TOPIC_GAP, SECTION_HEIGHT)
        hub = Box(
            SPINE_X - SECTION_WIDTH / 2,
            y + (block - SECTION_HEIGHT) / 2,
            SECTION_WIDTH,
            SECTION_HEIGHT,
        )
        core_nodes = _column(core, LEFT_X, y, block, statuses)
        extra_nodes = _column(extra, RIGHT_X, y, block, statuses)
        for node in core_nodes:
            edges.append(
                Edge(
                    "core",
                    _curve(hub.x, hub.middle_y, node.box.x + node.box.width, node.box.middle_y),
                )
            )
        for node in extra_nodes:
            edges.append(
                Edge(
                    "extra", _curve(hub.x + hub.width, hub.middle_y, node.box.x, node.box.middle_y)
                )
            )
        if sections:
            above = sections[-1].box
            edges.append(Edge("spine", f"M{SPINE_X},{above.y + above.height:g} V{hub.y:g}"))
        sections.append(
            SectionNode(
                section=section,
                number=number,
                box=hub,
                label=_shorten(section.title, SECTION_LABEL_CHARS),
                core=core_nodes,
                extra=extra_nodes,
            )
        )
        y += block + SECTION_GAP
    return Diagram(
        width=WIDTH, height=round(y - SECTION_GAP + MARGIN), sections=sections, edges=edges
    )


def _column(
    topics: list[Topic], x: float, top: float, block: float, statuses: Mapping[str, str]
) -> list[TopicNode]:
    """Topics stacked at `x`, centred on the section's block."""
    height = len(topics) * (TOPIC_HEIGHT + TOPIC_GAP) - TOPIC_GAP
    y = top + (block - height) / 2
    nodes = []
    for topic in topics:
        status = statuses.get(topic.id, "pending")
        nodes.append(
            TopicNode(
                topic=topic,
                box=Box(x, y, TOPIC_WIDTH, TOPIC_HEIGHT),
                status=status if status in STATUS_LABELS else "pending",
                label=_shorten(topic.title, TOPIC_LABEL_CHARS),
            )
        )
        y += TOPIC_HEIGHT + TOPIC_GAP
    return nodes


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    """A horizontal S-curve from (x1, y1) to (x2, y2)."""
    mid = (x1 + x2) / 2
    return f"M{x1:g},{y1:g} C{mid:g},{y1:g} {mid:g},{y2:g} {x2:g},{y2:g}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
