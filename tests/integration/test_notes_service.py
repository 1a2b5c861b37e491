"""The notes service beneath the routes: adds racing for a topic's last places, and the
export and restore that the account's export and import are built on."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from tests.conftest import BACKEND_ROADMAP
from waymark.features.notes.schemas import (
    ExportedNote,
    ExportedResource,
    NotesExport,
    RestoreReport,
)
from waymark.features.notes.service import Notes
from waymark.features.roadmaps import document
from waymark.features.roadmaps.service import RoadmapCatalog, import_roadmap
from waymark.infra.sql.database import Database
from waymark.infra.sql.documents import SqlDocumentStore
from waymark.kernel.clock import Clock, utcnow
from waymark.kernel.errors import Conflict, ValidationFailed
from waymark.kernel.ports import StoredDocument

pytestmark = pytest.mark.usefixtures("backend_roadmap")

ADA, BOB = uuid.uuid4(), uuid.uuid4()
LINK = {"title": "Redis in Action", "url": "https://redis.io/docs/latest/", "kind": "book"}


@pytest.fixture
def catalog(db: Database) -> RoadmapCatalog:
    return RoadmapCatalog(db, cache_seconds=60)


@pytest.fixture
def notes(db: Database, catalog: RoadmapCatalog) -> Notes:
    return Notes(store=SqlDocumentStore(db), catalog=catalog, clock=Clock())


async def stored(db: Database, account_id: uuid.UUID) -> list[StoredDocument]:
    """Everything the account has in the store, revisions included."""
    store = SqlDocumentStore(db)
    return [
        *await store.scan(str(account_id), "notes"),
        *await store.scan(str(account_id), "resources"),
    ]


async def fill(notes: Notes, account_id: uuid.UUID) -> None:
    """Notes on two topics and resources on three (one topic with resources but no note)."""
    await notes.notes.write(account_id, "backend", "databases.redis", "# Redis\n\nsorted sets")
    await notes.notes.write(account_id, "backend", "language.python", "asyncio é 🦉")
    for topic_id, count in (("databases.redis", 3), ("language.python", 1), ("api-design.rest", 2)):
        for n in range(count):
            await notes.resources.add(
                account_id, "backend", topic_id, **{**LINK, "title": f"{topic_id} #{n}"}
            )


async def test_adds_racing_for_the_last_places_never_pass_the_cap(notes: Notes) -> None:
    for n in range(45):
        await notes.resources.add(ADA, "backend", "databases.redis", **{**LINK, "title": f"#{n}"})

    async def add(n: int) -> str:
        try:
            await notes.resources.add(
                ADA, "backend", "databases.redis", **{**LINK, "title": f"late {n}"}
            )
        except ValidationFailed as refused:
            return f"full: {refused.errors[0].field}"
        except Conflict:
            return "busy"
        return "added"

    outcomes = await asyncio.gather(*(add(n) for n in range(12)))
    assert set(outcomes) <= {"added", "full: resources", "busy"}
    listed = await notes.resources.list(ADA, "backend", "databases.redis")
    assert len(listed) == 45 + outcomes.count("added") <= 50
    assert outcomes.count("added") >= 1
    assert len({r.id for r in listed}) == len(listed)


# -- Export --------------------------------------------------------------------------------


async def test_an_account_with_nothing_exports_nothing(notes: Notes) -> None:
    assert await notes.export(ADA) == NotesExport(version=1, notes=[], resources=[])


async def test_export_holds_every_note_and_resource_of_the_account_only(notes: Notes) -> None:
    await fill(notes, ADA)
    await notes.notes.write(BOB, "backend", "databases.redis", "Bob's")
    await notes.resources.add(BOB, "backend", "databases.redis", **LINK)

    exported = await notes.export(ADA)
    assert [(n.slug, n.topic_id, n.markdown) for n in exported.notes] == [
        ("backend", "databases.redis", "# Redis\n\nsorted sets"),
        ("backend", "language.python", "asyncio é 🦉"),
    ]
    assert [(r.topic_id, r.title) for r in exported.resources] == [
        ("api-design.rest", "api-design.rest #0"),
        ("api-design.rest", "api-design.rest #1"),
        ("databases.redis", "databases.redis #0"),
        ("databases.redis", "databases.redis #1"),
        ("databases.redis", "databases.redis #2"),
        ("language.python", "language.python #0"),
    ]
    listed = await notes.resources.list(ADA, "backend", "databases.redis")
    assert [r.id for r in exported.resources[2:5]] == [r.id for r in listed]
    assert exported.resources[2].added_at == listed[0].added_at
    assert exported.resources[2].url == LINK["url"]
    assert exported.resources[2].kind == "book"


# -- Restore -------------------------------------------------------------------------------


async def test_an_export_restores_into_another_account_as_it_was(notes: Notes) -> None:
    await fill(notes, ADA)
    exported = await notes.export(ADA)
    # Through the bytes an export file holds, as the account's import reads them.
    from_file = msgspec.json.decode(msgspec.json.encode(exported), type=NotesExport)

    report = await notes.restore(BOB, from_file)
    assert report == RestoreReport(notes_added=2, resources_added=6)
    assert await notes.export(BOB) == exported  # ids and times included


async def test_restoring_the_same_export_twice_changes_nothing(notes: Notes, db: Database) -> None:
    await fill(notes, ADA)
    exported = await notes.export(ADA)
    await notes.restore(BOB, exported)
    before = await stored(db, BOB)

    again = await notes.restore(BOB, exported)
    assert again == RestoreReport(notes_unchanged=2, resources_unchanged=6)
    assert await stored(db, BOB) == before  # not even a revision moved
    # Into the account it came from, too.
    assert await notes.restore(ADA, exported) == again


async def test_restore_keeps_what_is_there_and_reports_what_it_did_not_restore(
    notes: Notes, db: Database, catalog: RoadmapCatalog
) -> None:
    await fill(notes, ADA)
    for n in range(3):
        await notes.resources.add(ADA, "backend", "databases.mongodb", **{**LINK, "title": f"{n}"})
    exported = await notes.export(ADA)

    # Bob wrote his own note on a topic the export has one on, and filled another topic.
    await notes.notes.write(BOB, "backend", "databases.redis", "Bob's own")
    for n in range(49):
        await notes.resources.add(BOB, "backend", "databases.mongodb", **{**LINK, "title": f"{n}"})
    # The roadmap has dropped a topic since the export was made.
    spec = document.load(BACKEND_ROADMAP)
    for section in spec.sections:
        section.topics = [t for t in section.topics if t.id != "language.python"]
    async with db.transaction() as conn:
        await import_roadmap(conn, spec, now=utcnow())
    catalog.invalidate("backend")
    # And the file names topics no roadmap has, or ever had.
    made_up = NotesExport(
        notes=[
            *exported.notes,
            ExportedNote(
                slug="nosuch",
                topic_id="a.b",
                markdown="?",
                created_at=utcnow(),
                updated_at=utcnow(),
            ),
        ],
        resources=[
            *exported.resources,
            ExportedResource(
                id="made-up-resource-id-0001",
                slug="backend",
                topic_id="databases.nosuch",
                title="t",
                url="https://example.org/",
                kind="other",
                added_at=utcnow(),
            ),
        ],
    )

    report = await notes.restore(BOB, made_up)
    mongodb_ids = [r.id for r in exported.resources if r.topic_id == "databases.mongodb"]
    assert (
        report
        == RestoreReport(
            notes_added=0,
            notes_kept=["backend/databases.redis"],
            resources_added=3 + 2 + 1,  # redis, rest, and the one place left on mongodb
            resources_over_limit=mongodb_ids[1:],
            unknown_topics=["backend/databases.nosuch", "backend/language.python", "nosuch/a.b"],
        )
    )
    bob = await notes.export(BOB)
    assert [(n.topic_id, n.markdown) for n in bob.notes] == [("databases.redis", "Bob's own")]
    assert len([r for r in bob.resources if r.topic_id == "databases.mongodb"]) == 50
    assert await notes.restore(BOB, made_up) == RestoreReport(
        notes_kept=["backend/databases.redis"],
        resources_unchanged=6,
        resources_over_limit=mongodb_ids[1:],
        unknown_topics=report.unknown_topics,
    )
    assert await notes.export(BOB) == bob


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"notes": [{"markdown": "é" * (32 * 1024 + 1)}]}, "$.notes[0]"),
        ({"notes": [{"markdown": "bell \x07"}]}, "$.notes[0]"),
        ({"notes": [{"slug": "Not A Slug"}]}, "$.notes[0].slug"),
        ({"resources": [{"url": "javascript:alert(1)"}]}, "$.resources[0]"),
        ({"resources": [{"title": ""}]}, "$.resources[0].title"),
        ({"resources": [{"id": "short"}]}, "$.resources[0].id"),
        ({"resources": [{"kind": "blog"}]}, "$.resources[0].kind"),
        ({"version": 2}, "$.version"),
        ({"surprise": True}, "$"),
    ],
)
async def test_a_bad_export_is_refused_whole_naming_the_path(
    notes: Notes, db: Database, change: dict[str, object], path: str
) -> None:
    await fill(notes, ADA)
    good = msgspec.to_builtins(await notes.export(ADA))
    bad = {**good}
    for name, value in change.items():
        if isinstance(value, list):  # change the first item, keep the rest
            bad[name] = [{**good[name][0], **value[0]}, *good[name][1:]]
        else:
            bad[name] = value
    with pytest.raises(msgspec.ValidationError) as decoding:
        msgspec.convert(bad, NotesExport)
    assert decoding.value.args[0].endswith(f"`{path}`") or path == "$"

    # Built in code, msgspec checks no constraints but `__post_init__`'s (the size of a
    # note, the scheme of a URL): restore checks the others before it writes anything.
    if "version" in change or "surprise" in change:
        return
    try:
        built = NotesExport(
            notes=[ExportedNote(**n) for n in _fresh_times(bad["notes"])],
            resources=[ExportedResource(**r) for r in _fresh_times(bad["resources"])],
        )
    except ValueError:
        return
    with pytest.raises(ValidationFailed) as refused:
        await notes.restore(BOB, built)
    assert refused.value.errors[0].field == path.removeprefix("$.")
    assert await stored(db, BOB) == []


def _fresh_times(items: list[dict[str, object]]) -> list[dict[str, object]]:
    times = ("created_at", "updated_at", "added_at")
    return [{k: utcnow() if k in times else v for k, v in item.items()} for item in items]
