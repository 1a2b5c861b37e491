"""The log of status changes is the source of truth: whatever happens, rebuilding the read
models from it gives the live ones back; concurrent writers leave a gap-free log; a roadmap
re-import keeps every learner's history and recounts with the current topics."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from tests.integration.progress_support import (
    SPEC,
    TOPICS,
    WHEN,
    new_account,
    projections,
    rebuilt,
)
from waymark import cli
from waymark.features.progress import rules
from waymark.features.progress.schemas import STATUSES, BatchItem
from waymark.features.progress.service import ProgressService
from waymark.features.progress.tables import (
    progress_events,
)
from waymark.features.roadmaps.schemas import TopicSpec
from waymark.features.roadmaps.service import RoadmapCatalog, import_roadmap
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock, utcnow

changes = st.lists(
    st.tuples(st.sampled_from(TOPICS[:12]), st.sampled_from(STATUSES)), min_size=1, max_size=25
)


@pytest.mark.usefixtures("imported")
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=changes)
async def test_any_sequence_replayed_gives_the_live_read_models(
    db: Database, service: ProgressService, sequence: list[tuple[str, str]]
) -> None:
    learner = await new_account(db)
    for topic, status in sequence:
        await service.set_status(learner, "backend", topic, status)  # type: ignore[arg-type]
    live = await projections(db, learner.id)
    assert live == await rebuilt(service, db, learner)
    # And the counts are a direct count over the statuses.
    last: dict[str, str] = {}
    for topic, status in sequence:
        last[topic] = status
    view, _ = await service.view(learner, "backend")
    for status in ("done", "learning", "skipped"):
        assert getattr(view.counts, status) == sum(1 for s in last.values() if s == status)
    finished = sum(1 for s in last.values() if s in ("done", "skipped"))
    assert view.counts.percentage == round(100 * finished / len(TOPICS), 1)


@pytest.mark.backend("postgresql")
@pytest.mark.usefixtures("imported")
async def test_concurrent_writers_leave_a_gap_free_log(database_url: str) -> None:
    """Two clients of one learner, many changes at once, each on a pool of its own: every
    change is in the log exactly once, numbered 1..n, and the read models equal a rebuild."""
    dbs = [Database(database_url) for _ in range(2)]
    try:
        services = [
            ProgressService(
                db=db, catalog=RoadmapCatalog(db, cache_seconds=60), outbox=Outbox(), clock=Clock()
            )
            for db in dbs
        ]
        learner = await new_account(dbs[0])
        work = [
            services[n % 2].set_status(learner, "backend", TOPICS[n], "done") for n in range(30)
        ]
        results = await asyncio.gather(*work)
        assert all(result.changed for result, _ in results)
        async with dbs[0].read() as conn:
            seqs = (
                (
                    await conn.execute(
                        select(progress_events.c.seq)
                        .where(progress_events.c.user_id == learner.id)
                        .order_by(progress_events.c.seq)
                    )
                )
                .scalars()
                .all()
            )
        assert list(seqs) == list(range(1, 31))
        live = await projections(dbs[0], learner.id)
        assert live == await rebuilt(services[0], dbs[0], learner)
        view, _ = await services[0].view(learner, "backend")
        assert view.counts.done == 30
    finally:
        for db in dbs:
            await db.dispose()


@pytest.mark.usefixtures("imported")
async def test_a_reimport_keeps_history_and_recounts_with_current_topics(
    db: Database, service: ProgressService
) -> None:
    learner = await new_account(db)
    first = SPEC.sections[0]
    dropped, kept = first.topics[1].id, first.topics[0].id
    await service.set_statuses(
        learner,
        "backend",
        [BatchItem(topic_id=dropped, status="done"), BatchItem(topic_id=kept, status="done")],
    )
    edited = msgspec.structs.replace(
        SPEC,
        sections=[
            msgspec.structs.replace(
                first,
                topics=[
                    msgspec.structs.replace(first.topics[0], title="Renamed, same topic"),
                    *first.topics[2:],
                    TopicSpec(id=f"{first.id}.added", title="Added"),
                ],
            ),
            *SPEC.sections[1:],
        ],
    )
    async with db.transaction() as conn:
        result = await import_roadmap(conn, edited, now=utcnow())
    assert result.retired_topics == 1
    roadmap = await service.catalog.current("backend", fresh=True)
    assert await service.projections.recount(roadmap.id) == 1
    view, _ = await service.view(learner, "backend")
    assert view.statuses[kept] == "done"  # progress on a surviving topic is kept
    assert dropped not in view.statuses
    assert view.counts.done == 1  # the retired topic no longer counts
    assert view.counts.total == len(TOPICS)  # one dropped, one added
    history = await service.history(learner, "backend", before=None, limit=10)
    assert {entry.topic_id for entry in history} == {dropped, kept}  # history stays whole
    live = await projections(db, learner.id)
    assert live == await rebuilt(service, db, learner)


def test_tally_and_next_up_follow_roadmap_order() -> None:
    from waymark.features.roadmaps.schemas import CurrentRoadmap, RoadmapDetail, Section, Topic

    detail = RoadmapDetail(
        slug="r",
        title="R",
        description="",
        version=1,
        updated_at=WHEN,
        sections=[
            Section(
                id="a",
                title="A",
                description="",
                position=1,
                topics=[
                    Topic(id="a.x", title="x", description="", kind="extra", position=1),
                    Topic(id="a.c", title="c", description="", kind="core", position=2),
                ],
            ),
            Section(
                id="b",
                title="B",
                description="",
                position=2,
                topics=[Topic(id="b.c", title="c", description="", kind="core", position=1)],
            ),
        ],
    )
    roadmap = CurrentRoadmap(id=1, detail=detail)
    statuses = {"a.c": "done", "gone.t": "done"}  # a retired topic never counts
    tallies = rules.tally(roadmap, statuses)  # type: ignore[arg-type]
    assert tallies.roadmap == (1, 0, 0)
    assert tallies.sections == {"a": (1, 0, 0), "b": (0, 0, 0)}
    assert rules.next_up(roadmap, statuses) == ["b.c", "a.x"]  # type: ignore[arg-type]


@pytest.mark.usefixtures("imported")
async def test_the_rebuild_command_reports_what_it_replayed(
    db: Database, service: ProgressService, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = await new_account(db)
    await service.set_status(learner, "backend", TOPICS[0], "learning")
    monkeypatch.setenv("WAYMARK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("WAYMARK_VAR_DIR", str(settings.var_dir))
    before = await projections(db, learner.id)
    result = await asyncio.to_thread(
        CliRunner().invoke, cli.app, ["progress", "rebuild", "--user", learner.email]
    )
    assert result.exit_code == 0, result.output
    assert "1 log(s) replayed" in result.output
    assert await projections(db, learner.id) == before
