"""Which topic a note or resource is on: its document key, and whether a roadmap has it now.

A topic is `{roadmap slug}/{topic id}`, which is also the key of its documents (neither part
holds a `/`). Writes need a topic some roadmap has now; a retired topic counts as unknown
for them, but what was written on it while it was current can still be read and deleted.
"""

from __future__ import annotations

import re
import uuid

from waymark.features.roadmaps.schemas import SLUG_PATTERN, TOPIC_ID_PATTERN
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.kernel.errors import NotFound

_is_slug = re.compile(SLUG_PATTERN).fullmatch
_is_topic_id = re.compile(TOPIC_ID_PATTERN).fullmatch
MAX_SLUG_LENGTH, MAX_TOPIC_ID_LENGTH = 64, 129


def owner(account_id: uuid.UUID) -> str:
    """Whose documents: the account's id."""
    return str(account_id)


def topic_key(slug: str, topic_id: str) -> str:
    """The documents' key of a topic; `NotFound` for what could be no topic's."""
    if not (
        len(slug) <= MAX_SLUG_LENGTH
        and len(topic_id) <= MAX_TOPIC_ID_LENGTH
        and _is_slug(slug)
        and _is_topic_id(topic_id)
    ):
        raise unknown_topic(slug, topic_id)
    return f"{slug}/{topic_id}"


def roadmap_prefix(slug: str) -> str:
    """What the keys of a roadmap's topics start with; `NotFound` for no roadmap's slug."""
    if not (len(slug) <= MAX_SLUG_LENGTH and _is_slug(slug)):
        raise NotFound(f"no roadmap {slug!r}")
    return f"{slug}/"


def split_key(key: str) -> tuple[str, str]:
    slug, _, topic_id = key.partition("/")
    return slug, topic_id


def unknown_topic(slug: str, topic_id: str) -> NotFound:
    return NotFound(f"no topic {topic_id!r} in roadmap {slug!r}")


class Topics:
    """The topics of the roadmaps as they are now, from the catalog's per-process cache (an
    import in another process is seen within the cache's lifetime)."""

    def __init__(self, catalog: RoadmapCatalog) -> None:
        self.catalog = catalog

    async def is_current(self, slug: str, topic_id: str) -> bool:
        try:
            roadmap = await self.catalog.current(slug)
        except NotFound:
            return False
        return topic_id in roadmap.topic_ids()

    async def current_key(self, slug: str, topic_id: str) -> str:
        """The key of a topic a roadmap has now, for a write; `NotFound` otherwise."""
        key = topic_key(slug, topic_id)
        if not await self.is_current(slug, topic_id):
            raise unknown_topic(slug, topic_id)
        return key
