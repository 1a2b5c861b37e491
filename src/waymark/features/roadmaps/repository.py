"""SQL for roadmaps. Every function takes the caller's connection; none commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.roadmaps.schemas import (
    CurrentRoadmap,
    RoadmapDetail,
    RoadmapRef,
    RoadmapSummary,
    Section,
    SectionRef,
    Topic,
    TopicDetail,
)
from waymark.features.roadmaps.tables import (
    roadmap_sections,
    roadmap_topics,
    roadmap_versions,
    roadmaps,
)
from waymark.infra.sql.database import Database, HotRead


class RoadmapState(msgspec.Struct, frozen=True):
    id: int
    version: int
    content_hash: str


class RoadmapRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- reads -------------------------------------------------------------------------------

    async def list_summaries(self, *, after: str | None, limit: int) -> list[RoadmapSummary]:
        """Roadmaps ordered by slug, starting after `after`, at most `limit` of them."""
        live_topics = (
            select(func.count())
            .where(
                roadmap_topics.c.roadmap_id == roadmaps.c.id, roadmap_topics.c.retired_at.is_(None)
            )
            .scalar_subquery()
        )
        live_sections = (
            select(func.count())
            .where(
                roadmap_sections.c.roadmap_id == roadmaps.c.id,
                roadmap_sections.c.retired_at.is_(None),
            )
            .scalar_subquery()
        )
        query = (
            select(
                roadmaps.c.slug,
                roadmaps.c.title,
                roadmaps.c.description,
                roadmaps.c.version,
                live_sections.label("section_count"),
                live_topics.label("topic_count"),
                roadmaps.c.updated_at,
            )
            .order_by(roadmaps.c.slug)
            .limit(limit)
        )
        if after is not None:
            query = query.where(roadmaps.c.slug > after)
        rows = (await self.conn.execute(query)).all()
        return [RoadmapSummary(**row._mapping) for row in rows]

    async def get_current(self, slug: str) -> CurrentRoadmap | None:
        head = (
            await self.conn.execute(
                select(
                    roadmaps.c.id,
                    roadmaps.c.slug,
                    roadmaps.c.title,
                    roadmaps.c.description,
                    roadmaps.c.version,
                    roadmaps.c.updated_at,
                ).where(roadmaps.c.slug == slug)
            )
        ).first()
        if head is None:
            return None
        rows = (
            await self.conn.execute(
                select(
                    roadmap_sections.c.key.label("section_key"),
                    roadmap_sections.c.title.label("section_title"),
                    roadmap_sections.c.description.label("section_description"),
                    roadmap_sections.c.position.label("section_position"),
                    roadmap_topics.c.key,
                    roadmap_topics.c.title,
                    roadmap_topics.c.description,
                    roadmap_topics.c.kind,
                    roadmap_topics.c.position,
                )
                .join_from(
                    roadmap_sections,
                    roadmap_topics,
                    and_(
                        roadmap_topics.c.section_id == roadmap_sections.c.id,
                        roadmap_topics.c.retired_at.is_(None),
                    ),
                )
                .where(
                    roadmap_sections.c.roadmap_id == head.id,
                    roadmap_sections.c.retired_at.is_(None),
                )
                .order_by(roadmap_sections.c.position, roadmap_topics.c.position)
            )
        ).all()
        sections: list[Section] = []
        for row in rows:
            if not sections or sections[-1].id != row.section_key:
                sections.append(
                    Section(
                        id=row.section_key,
                        title=row.section_title,
                        description=row.section_description,
                        position=row.section_position,
                        topics=[],
                    )
                )
            sections[-1].topics.append(
                Topic(
                    id=row.key,
                    title=row.title,
                    description=row.description,
                    kind=row.kind,
                    position=row.position,
                )
            )
        detail = RoadmapDetail(
            slug=head.slug,
            title=head.title,
            description=head.description,
            version=head.version,
            updated_at=head.updated_at,
            sections=sections,
        )
        return CurrentRoadmap(id=head.id, detail=detail)

    async def get_state(self, slug: str) -> RoadmapState | None:
        row = (
            await self.conn.execute(
                select(roadmaps.c.id, roadmaps.c.version, roadmaps.c.content_hash).where(
                    roadmaps.c.slug == slug
                )
            )
        ).first()
        return (
            RoadmapState(id=row.id, version=row.version, content_hash=row.content_hash)
            if row
            else None
        )

    async def slug_of(self, roadmap_id: int) -> str | None:
        return await self.conn.scalar(select(roadmaps.c.slug).where(roadmaps.c.id == roadmap_id))

    async def version_document(self, slug: str, version: int) -> bytes | None:
        document = (
            await self.conn.execute(
                select(roadmap_versions.c.document)
                .join(roadmaps, roadmaps.c.id == roadmap_versions.c.roadmap_id)
                .where(roadmaps.c.slug == slug, roadmap_versions.c.version == version)
            )
        ).scalar_one_or_none()
        return document.encode() if document is not None else None

    async def latest_document(self, slug: str) -> bytes | None:
        """The canonical JSON of the roadmap's current version."""
        document = (
            await self.conn.execute(
                select(roadmap_versions.c.document)
                .join(roadmaps, roadmaps.c.id == roadmap_versions.c.roadmap_id)
                .where(roadmaps.c.slug == slug, roadmap_versions.c.version == roadmaps.c.version)
            )
        ).scalar_one_or_none()
        return document.encode() if document is not None else None

    # -- writes ------------------------------------------------------------------------------

    async def insert_roadmap(
        self, *, slug: str, title: str, description: str, content_hash: str, now: datetime
    ) -> int:
        result = await self.conn.execute(
            insert(roadmaps)
            .values(
                slug=slug,
                title=title,
                description=description,
                version=1,
                content_hash=content_hash,
                created_at=now,
                updated_at=now,
            )
            .returning(roadmaps.c.id)
        )
        return int(result.scalar_one())

    async def update_roadmap(
        self,
        roadmap_id: int,
        *,
        title: str,
        description: str,
        version: int,
        content_hash: str,
        now: datetime,
    ) -> None:
        await self.conn.execute(
            update(roadmaps)
            .where(roadmaps.c.id == roadmap_id)
            .values(
                title=title,
                description=description,
                version=version,
                content_hash=content_hash,
                updated_at=now,
            )
        )

    async def insert_version(
        self, roadmap_id: int, *, version: int, content_hash: str, document: bytes, now: datetime
    ) -> None:
        await self.conn.execute(
            insert(roadmap_versions).values(
                roadmap_id=roadmap_id,
                version=version,
                content_hash=content_hash,
                document=document.decode(),
                created_at=now,
            )
        )

    async def section_ids(self, roadmap_id: int) -> dict[str, int]:
        rows = await self.conn.execute(
            select(roadmap_sections.c.key, roadmap_sections.c.id).where(
                roadmap_sections.c.roadmap_id == roadmap_id
            )
        )
        return {row.key: row.id for row in rows}

    async def topic_keys(self, roadmap_id: int) -> dict[str, bool]:
        """Every topic key ever published for the roadmap, mapped to whether it is live."""
        rows = await self.conn.execute(
            select(roadmap_topics.c.key, roadmap_topics.c.retired_at).where(
                roadmap_topics.c.roadmap_id == roadmap_id
            )
        )
        return {row.key: row.retired_at is None for row in rows}

    async def insert_sections(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(roadmap_sections), list(rows))

    async def update_sections(self, roadmap_id: int, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(
                update(roadmap_sections)
                .where(
                    roadmap_sections.c.roadmap_id == roadmap_id,
                    roadmap_sections.c.key == bindparam("b_key"),
                )
                .values(
                    title=bindparam("title"),
                    description=bindparam("description"),
                    position=bindparam("position"),
                    retired_at=bindparam("retired_at"),
                ),
                [{"b_key": r["key"], **{k: v for k, v in r.items() if k != "key"}} for r in rows],
            )

    async def insert_topics(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(roadmap_topics), list(rows))

    async def update_topics(self, roadmap_id: int, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(
                update(roadmap_topics)
                .where(
                    roadmap_topics.c.roadmap_id == roadmap_id,
                    roadmap_topics.c.key == bindparam("b_key"),
                )
                .values(
                    section_id=bindparam("section_id"),
                    title=bindparam("title"),
                    description=bindparam("description"),
                    kind=bindparam("kind"),
                    position=bindparam("position"),
                    retired_at=bindparam("retired_at"),
                ),
                [{"b_key": r["key"], **{k: v for k, v in r.items() if k != "key"}} for r in rows],
            )

    async def retire_sections(self, roadmap_id: int, keys: Iterable[str], now: datetime) -> None:
        keys = list(keys)
        if keys:
            await self.conn.execute(
                update(roadmap_sections)
                .where(
                    roadmap_sections.c.roadmap_id == roadmap_id, roadmap_sections.c.key.in_(keys)
                )
                .values(retired_at=now)
            )

    async def retire_topics(self, roadmap_id: int, keys: Iterable[str], now: datetime) -> None:
        keys = list(keys)
        if keys:
            await self.conn.execute(
                update(roadmap_topics)
                .where(
                    roadmap_topics.c.roadmap_id == roadmap_id,
                    roadmap_topics.c.key.in_(keys),
                    roadmap_topics.c.retired_at.is_(None),
                )
                .values(retired_at=now)
            )


_TOPIC_QUERY = (
    select(
        roadmap_topics.c.key,
        roadmap_topics.c.title,
        roadmap_topics.c.description,
        roadmap_topics.c.kind,
        roadmap_topics.c.position,
        roadmap_sections.c.key.label("section_key"),
        roadmap_sections.c.title.label("section_title"),
        roadmap_sections.c.position.label("section_position"),
        roadmaps.c.slug,
        roadmaps.c.title.label("roadmap_title"),
    )
    .join_from(
        roadmap_topics, roadmap_sections, roadmap_sections.c.id == roadmap_topics.c.section_id
    )
    .join(roadmaps, roadmaps.c.id == roadmap_topics.c.roadmap_id)
    .where(
        roadmaps.c.slug == bindparam("slug"),
        roadmap_topics.c.key == bindparam("topic_id"),
        roadmap_topics.c.retired_at.is_(None),
    )
)

# The hottest per-topic read goes straight to the driver (see HotRead).
_TOPIC_READ = HotRead(_TOPIC_QUERY)


async def hot_topic(db: Database, slug: str, topic_id: str) -> TopicDetail | None:
    """One topic with its section, as a hot read on a connection of its own."""
    row = await _TOPIC_READ.fetch(db, {"slug": slug, "topic_id": topic_id})
    if row is None:
        return None
    return TopicDetail(
        id=row["key"],
        title=row["title"],
        description=row["description"],
        kind=row["kind"],
        position=row["position"],
        section=SectionRef(
            id=row["section_key"], title=row["section_title"], position=row["section_position"]
        ),
        roadmap=RoadmapRef(slug=row["slug"], title=row["roadmap_title"]),
    )
