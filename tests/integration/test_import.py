"""Importing roadmaps: idempotent, versioned, and keeping topic ids across edits."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests import databases
from waymark.features.roadmaps import document
from waymark.features.roadmaps.schemas import RoadmapSpec, SectionSpec, TopicSpec
from waymark.features.roadmaps.service import RoadmapCatalog, import_roadmap
from waymark.features.roadmaps.tables import (
    roadmap_sections,
    roadmap_topics,
    roadmap_versions,
    roadmaps,
)
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow

BACKEND = document.load(document.builtin_path("backend"))


async def _import(db: Database, spec: RoadmapSpec) -> Any:
    async with db.transaction() as conn:
        return await import_roadmap(conn, spec, now=utcnow())


async def _snapshot(db: Database) -> list[tuple[Any, ...]]:
    """Every row of the roadmap tables, for before/after comparisons."""
    async with db.read() as conn:
        rows: list[tuple[Any, ...]] = []
        for table in (roadmaps, roadmap_sections, roadmap_topics):
            result = await conn.execute(select(table).order_by(*table.primary_key.columns))
            rows += [tuple(r) for r in result]
        return rows


async def _topic_row_ids(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        result = await conn.execute(select(roadmap_topics.c.key, roadmap_topics.c.id))
        return {r.key: r.id for r in result}


async def test_first_import_creates_version_one(db: Database) -> None:
    result = await _import(db, BACKEND)
    assert (result.version, result.changed, result.sections, result.topics) == (1, True, 8, 45)
    detail = await RoadmapCatalog(db, cache_seconds=0).rendered("backend")
    decoded = msgspec.json.decode(detail.body)
    assert [s["id"] for s in decoded["sections"]] == [s.id for s in BACKEND.sections]


async def test_reimport_of_the_same_file_changes_nothing(db: Database) -> None:
    await _import(db, BACKEND)
    before = await _snapshot(db)
    result = await _import(db, BACKEND)
    assert (result.version, result.changed) == (1, False)
    assert await _snapshot(db) == before


async def test_changed_description_is_a_new_version_with_the_same_topic_ids(db: Database) -> None:
    await _import(db, BACKEND)
    ids_before = await _topic_row_ids(db)
    edited = msgspec.structs.replace(
        BACKEND,
        sections=[
            msgspec.structs.replace(
                s,
                topics=[
                    msgspec.structs.replace(t, description=t.description + " Now with examples.")
                    if t.id == "databases.postgresql"
                    else t
                    for t in s.topics
                ],
            )
            for s in BACKEND.sections
        ],
    )
    result = await _import(db, edited)
    assert (result.version, result.changed) == (2, True)
    assert await _topic_row_ids(db) == ids_before
    topic = await RoadmapCatalog(db, cache_seconds=0).topic("backend", "databases.postgresql")
    assert topic.description.endswith("Now with examples.")
    async with db.read() as conn:
        versions = await conn.scalar(select(func.count()).select_from(roadmap_versions))
    assert versions == 2  # both kept, the first as it was


async def test_dropped_topic_is_retired_and_returns_with_its_id(db: Database) -> None:
    await _import(db, BACKEND)
    ids = await _topic_row_ids(db)
    without_hono = msgspec.structs.replace(
        BACKEND,
        sections=[
            msgspec.structs.replace(s, topics=[t for t in s.topics if t.id != "framework.hono"])
            for s in BACKEND.sections
        ],
    )
    result = await _import(db, without_hono)
    assert (result.topics, result.retired_topics) == (44, 1)
    catalog = RoadmapCatalog(db, cache_seconds=0)
    body = msgspec.json.decode((await catalog.rendered("backend")).body)
    assert "framework.hono" not in {t["id"] for s in body["sections"] for t in s["topics"]}

    restored = await _import(db, BACKEND)
    catalog.invalidate("backend")  # what an in-process import edge does after commit
    assert restored.version == 3
    assert await _topic_row_ids(db) == ids
    body = msgspec.json.decode((await catalog.rendered("backend")).body)
    assert sum(len(s["topics"]) for s in body["sections"]) == 45


async def test_topic_moved_to_another_section_keeps_its_id(db: Database) -> None:
    await _import(db, BACKEND)
    ids = await _topic_row_ids(db)
    sections = [msgspec.structs.replace(s, topics=list(s.topics)) for s in BACKEND.sections]
    redis = next(t for t in sections[2].topics if t.id == "databases.redis")
    sections[2].topics.remove(redis)
    sections[3].topics.insert(0, redis)
    await _import(db, msgspec.structs.replace(BACKEND, sections=sections))
    topic = await RoadmapCatalog(db, cache_seconds=0).topic("backend", "databases.redis")
    assert (topic.section.id, topic.position) == ("authentication", 1)
    assert await _topic_row_ids(db) == ids


_words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
_printable = st.characters(exclude_categories=("Cc", "Cs"))


@st.composite
def roadmap_specs(draw: st.DrawFn) -> RoadmapSpec:
    section_ids = draw(st.lists(_words, min_size=1, max_size=4, unique=True))
    sections = []
    for sid in section_ids:
        topic_ids = draw(st.lists(_words, min_size=1, max_size=5, unique=True))
        sections.append(
            SectionSpec(
                id=sid,
                title=draw(st.text(_printable, min_size=1, max_size=20)),
                description=draw(st.text(_printable, max_size=40)),
                topics=[
                    TopicSpec(
                        id=f"{sid}.{tid}",
                        title=draw(st.text(_printable, min_size=1, max_size=20)),
                        description=draw(st.text(_printable, max_size=40)),
                        kind=draw(st.sampled_from(["core", "extra"])),
                    )
                    for tid in topic_ids
                ],
            )
        )
    spec = RoadmapSpec(slug="generated", title="Generated", sections=sections)
    # Through the real entry point, so every generated document is one import would accept.
    return document.parse(msgspec.json.encode(spec), "json")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=roadmap_specs(), second=roadmap_specs())
async def test_property_import_is_idempotent_and_versions_only_on_change(
    database_url: str, first: RoadmapSpec, second: RoadmapSpec
) -> None:
    db = Database(database_url)
    try:
        await databases.wipe(database_url)
        one = await _import(db, first)
        snapshot = await _snapshot(db)
        again = await _import(db, first)
        assert (again.changed, again.version) == (False, one.version)
        assert await _snapshot(db) == snapshot

        two = await _import(db, second)
        assert two.changed == (document.content_hash(second) != document.content_hash(first))
        assert two.version == (2 if two.changed else 1)
        exported = await RoadmapCatalog(db, cache_seconds=0).export("generated")
        assert exported == second
        live = {
            t["id"]
            for s in msgspec.json.decode(
                (await RoadmapCatalog(db, cache_seconds=0).rendered("generated")).body
            )["sections"]
            for t in s["topics"]
        }
        assert live == {t.id for s in second.sections for t in s.topics}
    finally:
        await db.dispose()
