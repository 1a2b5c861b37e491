"""The roadmap document format (what editors write and `import` reads) and the API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
TOPIC_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$"
# No control characters (PostgreSQL cannot store NUL); descriptions may hold tabs and newlines.
_TITLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Slug = Annotated[str, msgspec.Meta(pattern=SLUG_PATTERN, min_length=1, max_length=64)]
TopicId = Annotated[
    str,
    msgspec.Meta(
        pattern=TOPIC_ID_PATTERN,
        min_length=3,
        max_length=129,
        description="Stable id, `<section>.<topic>`; it never changes once published.",
    ),
]
Title = Annotated[str, msgspec.Meta(pattern=_TITLE_PATTERN, min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(pattern=_TEXT_PATTERN, max_length=4000)]
TopicKind = Literal["core", "extra"]


# -- The document format ---------------------------------------------------------------------


class TopicSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: TopicId
    title: Title
    description: Description = ""
    kind: TopicKind = "core"


class SectionSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: Slug
    title: Title
    description: Description = ""
    topics: Annotated[list[TopicSpec], msgspec.Meta(min_length=1, max_length=500)]


class RoadmapSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    format: Literal[1] = 1
    slug: Slug
    title: Title
    description: Description = ""
    sections: Annotated[list[SectionSpec], msgspec.Meta(min_length=1, max_length=100)]


# -- API responses ---------------------------------------------------------------------------


class RoadmapSummary(msgspec.Struct, kw_only=True):
    slug: str
    title: str
    description: str
    version: int
    section_count: int
    topic_count: int
    updated_at: datetime


class Topic(msgspec.Struct, kw_only=True):
    id: str
    title: str
    description: str
    kind: TopicKind
    position: int


class Section(msgspec.Struct, kw_only=True):
    id: str
    title: str
    description: str
    position: int
    topics: list[Topic]


class RoadmapDetail(msgspec.Struct, kw_only=True):
    slug: str
    title: str
    description: str
    version: int
    updated_at: datetime
    sections: list[Section]


class CurrentRoadmap(msgspec.Struct, frozen=True, kw_only=True):
    """A roadmap's current content as other features read it (`RoadmapCatalog.current`):
    its row id, and its sections and topics in order (retired ones left out)."""

    id: int
    detail: RoadmapDetail

    @property
    def slug(self) -> str:
        return self.detail.slug

    @property
    def version(self) -> int:
        return self.detail.version

    def topic_ids(self) -> list[str]:
        """Every current topic's id, in roadmap order."""
        return [topic.id for section in self.detail.sections for topic in section.topics]


class SectionRef(msgspec.Struct, kw_only=True):
    id: str
    title: str
    position: int


class RoadmapRef(msgspec.Struct, kw_only=True):
    slug: str
    title: str


class TopicDetail(msgspec.Struct, kw_only=True):
    id: str
    title: str
    description: str
    kind: TopicKind
    position: int
    section: SectionRef
    roadmap: RoadmapRef


class ImportResult(msgspec.Struct, kw_only=True):
    slug: str
    version: int
    changed: bool
    sections: int
    topics: int
    retired_topics: int = 0


class ValidationReport(msgspec.Struct, kw_only=True):
    """What `POST /roadmaps/validate` answers for a valid document."""

    slug: str
    sections: int
    topics: int
    content_hash: str
