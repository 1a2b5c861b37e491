"""Roadmap use cases: importing content (writes, on the caller's transaction) and the
read-only catalog that serves it, with the hottest document cached as ready bytes."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.roadmaps import document
from waymark.features.roadmaps.messages import ROADMAP_PUBLISHED, RoadmapPublished
from waymark.features.roadmaps.repository import RoadmapRepository, hot_topic
from waymark.features.roadmaps.schemas import (
    SLUG_PATTERN,
    TOPIC_ID_PATTERN,
    CurrentRoadmap,
    ImportResult,
    RoadmapSpec,
    RoadmapSummary,
    TopicDetail,
)
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.errors import NotFound
from waymark.kernel.pagination import Page, decode_cursor, paginate

log = structlog.get_logger(__name__)

_is_slug = re.compile(SLUG_PATTERN).fullmatch
_is_topic_id = re.compile(TOPIC_ID_PATTERN).fullmatch

ImportProgress = Callable[[int], None]
"""Called with the number of topics written so far, for progress bars."""


async def import_roadmap(
    conn: AsyncConnection,
    spec: RoadmapSpec,
    *,
    now: datetime,
    outbox: Outbox | None = None,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Create or update a roadmap from a validated document; upserts by stable id.

    Identical content changes nothing. Changed content becomes a new version: sections and
    topics are updated in place by id, and those the document dropped are retired (kept, so
    progress that refers to them survives), to come back if a later version restores them.
    A new version is announced (`roadmaps.published`) through `outbox`, in `conn`'s
    transaction.
    """
    repo = RoadmapRepository(conn)
    digest = document.content_hash(spec)
    topic_total = sum(len(s.topics) for s in spec.sections)
    state = await repo.get_state(spec.slug)

    if state is not None and state.content_hash == digest:
        return ImportResult(
            slug=spec.slug,
            version=state.version,
            changed=False,
            sections=len(spec.sections),
            topics=topic_total,
        )

    if state is None:
        roadmap_id = await repo.insert_roadmap(
            slug=spec.slug,
            title=spec.title,
            description=spec.description,
            content_hash=digest,
            now=now,
        )
        version = 1
    else:
        roadmap_id, version = state.id, state.version + 1
        await repo.update_roadmap(
            roadmap_id,
            title=spec.title,
            description=spec.description,
            version=version,
            content_hash=digest,
            now=now,
        )
    await repo.insert_version(
        roadmap_id,
        version=version,
        content_hash=digest,
        document=document.canonical_json(spec),
        now=now,
    )

    section_ids = await _write_sections(repo, roadmap_id, spec, now)
    retired = await _write_topics(repo, roadmap_id, spec, section_ids, now, progress)
    if outbox is not None:
        await outbox.publish(
            conn,
            ROADMAP_PUBLISHED,
            RoadmapPublished(roadmap_id=roadmap_id, slug=spec.slug, roadmap_version=version),
        )
    return ImportResult(
        slug=spec.slug,
        version=version,
        changed=True,
        sections=len(spec.sections),
        topics=topic_total,
        retired_topics=retired,
    )


async def _write_sections(
    repo: RoadmapRepository, roadmap_id: int, spec: RoadmapSpec, now: datetime
) -> dict[str, int]:
    existing = await repo.section_ids(roadmap_id)
    rows = [
        {
            "key": s.id,
            "title": s.title,
            "description": s.description,
            "position": i,
            "retired_at": None,
        }
        for i, s in enumerate(spec.sections, start=1)
    ]
    await repo.update_sections(roadmap_id, [r for r in rows if r["key"] in existing])
    await repo.insert_sections(
        [{"roadmap_id": roadmap_id, **r} for r in rows if r["key"] not in existing]
    )
    await repo.retire_sections(roadmap_id, existing.keys() - {s.id for s in spec.sections}, now)
    return await repo.section_ids(roadmap_id)


async def _write_topics(
    repo: RoadmapRepository,
    roadmap_id: int,
    spec: RoadmapSpec,
    section_ids: dict[str, int],
    now: datetime,
    progress: ImportProgress | None,
) -> int:
    existing = await repo.topic_keys(roadmap_id)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for section in spec.sections:
        for position, topic in enumerate(section.topics, start=1):
            row = {
                "key": topic.id,
                "section_id": section_ids[section.id],
                "title": topic.title,
                "description": topic.description,
                "kind": topic.kind,
                "position": position,
                "retired_at": None,
            }
            (updates if topic.id in existing else inserts).append(row)
    await repo.update_topics(roadmap_id, updates)
    if progress:
        progress(len(updates))
    await repo.insert_topics([{"roadmap_id": roadmap_id, **r} for r in inserts])
    if progress:
        progress(len(updates) + len(inserts))
    dropped = {key for key, live in existing.items() if live} - {r["key"] for r in updates}
    await repo.retire_topics(roadmap_id, dropped, now)
    return len(dropped)


class RenderedRoadmap(msgspec.Struct, frozen=True):
    """A roadmap read once: its current content for other features, and the same serialized
    for the API, with its strong validator."""

    current: CurrentRoadmap
    body: bytes
    etag: str
    expires_at: float


class RoadmapCatalog:
    """Read side of roadmaps. Opens its own read-only connections.

    The full roadmap is the hottest public read, so each process keeps the serialized bytes
    for `cache_seconds`; an import in this process drops them at once, an import elsewhere is
    seen within `cache_seconds`.
    """

    def __init__(
        self, db: Database, *, cache_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._rendered: dict[str, RenderedRoadmap] = {}
        self._refreshing: dict[str, asyncio.Future[RenderedRoadmap]] = {}

    async def list_roadmaps(self, *, limit: int, cursor: str | None) -> Page[RoadmapSummary]:
        after = decode_cursor(cursor) if cursor else None
        async with self._db.read() as conn:
            rows = await RoadmapRepository(conn).list_summaries(after=after, limit=limit + 1)
        return paginate(rows, limit, key=lambda r: r.slug)

    def fresh(self, slug: str) -> RenderedRoadmap | None:
        """The cached roadmap if it is still fresh; never waits, never reads the database."""
        entry = self._rendered.get(slug)
        return entry if entry is not None and entry.expires_at > self._clock() else None

    async def rendered(self, slug: str) -> RenderedRoadmap:
        """The roadmap as response-ready JSON bytes; raises `NotFound`.

        A fresh entry is returned as is. An expired one is still returned while one refresh
        runs in the background; only a process that has never rendered the roadmap waits, and
        concurrent callers for the same slug share one database read.
        """
        entry = self._rendered.get(slug)
        if entry is not None and entry.expires_at > self._clock():
            return entry
        if not _is_slug(slug):
            raise NotFound(f"no roadmap {slug!r}")
        refresh = self._refreshing.get(slug)
        if refresh is None:
            refresh = asyncio.ensure_future(self._render(slug))
            self._refreshing[slug] = refresh
            refresh.add_done_callback(lambda done: self._finish_refresh(slug, done))
        if entry is not None:
            return entry
        return await asyncio.shield(refresh)

    async def current(self, slug: str, *, fresh: bool = False) -> CurrentRoadmap:
        """The roadmap's current content, as other features read it (progress, notes): from
        the same per-process cache as `rendered` (`fresh`: read now, for work that must not
        see an import of another process late); raises `NotFound`."""
        if fresh:
            if not _is_slug(slug):
                raise NotFound(f"no roadmap {slug!r}")
            return (await self._render(slug)).current
        return (await self.rendered(slug)).current

    async def current_by_id(self, roadmap_id: int) -> CurrentRoadmap | None:
        """`current(..., fresh=True)` of the roadmap with this row id; None if it is gone."""
        async with self._db.read() as conn:
            slug = await RoadmapRepository(conn).slug_of(roadmap_id)
        return None if slug is None else await self.current(slug, fresh=True)

    async def topic_ids_ever(self, roadmap_id: int) -> set[str]:
        """Every topic id any version of the roadmap has had, retired ones included (the
        topics a learner's history may name)."""
        async with self._db.read() as conn:
            return set(await RoadmapRepository(conn).topic_keys(roadmap_id))

    async def version(self, slug: str, version: int) -> RoadmapSpec | None:
        """The document of one published version (to tell what changed since)."""
        async with self._db.read() as conn:
            raw = await RoadmapRepository(conn).version_document(slug, version)
        return None if raw is None else msgspec.json.decode(raw, type=RoadmapSpec)

    async def _render(self, slug: str) -> RenderedRoadmap:
        async with self._db.read() as conn:
            found = await RoadmapRepository(conn).get_current(slug)
        if found is None:
            self._rendered.pop(slug, None)
            raise NotFound(f"no roadmap {slug!r}")
        body = msgspec.json.encode(found.detail)
        entry = RenderedRoadmap(
            current=found,
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            expires_at=self._clock() + self._cache_seconds,
        )
        self._rendered[slug] = entry
        return entry

    def _finish_refresh(self, slug: str, done: asyncio.Future[RenderedRoadmap]) -> None:
        self._refreshing.pop(slug, None)
        # A background refresh that nobody awaited must not fail silently.
        error = None if done.cancelled() else done.exception()
        if error is not None and not isinstance(error, NotFound):
            log.warning("roadmap_refresh_failed", slug=slug, error=repr(error))

    async def topic(self, slug: str, topic_id: str) -> TopicDetail:
        if not (_is_slug(slug) and _is_topic_id(topic_id)):
            raise NotFound(f"no topic {topic_id!r} in roadmap {slug!r}")
        topic = await hot_topic(self._db, slug, topic_id)
        if topic is None:
            raise NotFound(f"no topic {topic_id!r} in roadmap {slug!r}")
        return topic

    async def export(self, slug: str) -> RoadmapSpec:
        """The current version's document, as it was imported."""
        async with self._db.read() as conn:
            raw = await RoadmapRepository(conn).latest_document(slug)
        if raw is None:
            raise NotFound(f"no roadmap {slug!r}")
        return msgspec.json.decode(raw, type=RoadmapSpec)

    async def aclose(self) -> None:
        """Let the refreshes in flight finish (before the database they read is closed)."""
        refreshes = list(self._refreshing.values())
        if refreshes:
            await asyncio.gather(*refreshes, return_exceptions=True)

    def invalidate(self, slug: str) -> None:
        self._rendered.pop(slug, None)
