"""What the roadmaps feature announces: domain events, published through the outbox in the
transaction of the change (`Outbox.publish`), each payload versioned (docs/events.md)."""

from __future__ import annotations

from typing import Literal

import msgspec

ROADMAP_PUBLISHED = "roadmaps.published"


class RoadmapPublished(msgspec.Struct, frozen=True, kw_only=True):
    """`roadmaps.published`, version 1: a new version of a roadmap's content is current
    (topics may have been added, changed, moved or retired)."""

    version: Literal[1] = 1
    roadmap_id: int
    slug: str
    roadmap_version: int
