"""A learner's logs, exported and restored: nothing lost on the way, nothing doubled by a
second restore, nothing of the account's own history rewritten."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.progress_support import SPEC, TOPICS, new_account, projections, rebuilt
from waymark.features.progress.schemas import STATUSES, ExportedEvent, ExportedLog
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.schemas import TopicSpec
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.kernel.errors import ValidationFailed
from waymark.kernel.identity import Account


async def exported(service: ProgressService, learner: Account) -> list[ExportedLog]:
    logs = []
    for head in await service.archive.heads(learner.id):
        events = [
            e async for page in service.archive.events(learner.id, head, page=7) for e in page
        ]
        logs.append(ExportedLog(roadmap=head.slug, seen_version=head.seen_version, events=events))
    return logs


def without_account(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        table: [{k: v for k, v in row.items() if k != "user_id"} for row in rows]
        for table, rows in snapshot.items()
    }


async def record(service: ProgressService, learner: Account, moves: list[tuple[str, str]]) -> None:
    for topic, status in moves:
        service.clock.offset += 3600 * 7  # spread over days: streaks come back too
        await service.set_status(learner, "backend", topic, status)  # type: ignore[arg-type]


moves = st.lists(
    st.tuples(st.sampled_from(TOPICS[:10]), st.sampled_from(STATUSES)), min_size=1, max_size=20
)


@pytest.mark.usefixtures("imported")
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=moves)
async def test_a_restored_export_reads_as_the_original_and_twice_changes_nothing(
    db: Database, service: ProgressService, sequence: list[tuple[str, str]]
) -> None:
    original, copy = await new_account(db), await new_account(db)
    await record(service, original, sequence)
    document = await exported(service, original)
    # Through JSON, as a file would carry it.
    document = msgspec.json.decode(msgspec.json.encode(document), type=list[ExportedLog])

    first = await service.archive.restore(copy, document)
    assert first.events_added == sum(len(log.events) for log in document)
    assert await exported(service, copy) == document
    assert without_account(await projections(db, copy.id)) == without_account(
        await projections(db, original.id)
    )

    before = await projections(db, copy.id)
    again = await service.archive.restore(copy, document)
    assert (again.events_added, again.events_unchanged) == (0, first.events_added)
    assert await projections(db, copy.id) == before
    assert await exported(service, copy) == document
    assert before == await rebuilt(service, db, copy)


@pytest.mark.usefixtures("imported")
async def test_an_older_export_adds_nothing_and_a_newer_one_adds_the_rest(
    db: Database, service: ProgressService
) -> None:
    learner, copy = await new_account(db), await new_account(db)
    await record(service, learner, [(TOPICS[0], "learning"), (TOPICS[1], "done")])
    older = await exported(service, learner)
    await record(service, learner, [(TOPICS[0], "done"), (TOPICS[2], "skipped")])
    newer = await exported(service, learner)

    assert (await service.archive.restore(learner, older)).events_added == 0
    assert (await service.archive.restore(copy, older)).events_added == 2
    report = await service.archive.restore(copy, newer)
    assert (report.events_added, report.events_unchanged, report.topics_kept) == (2, 2, [])
    assert await exported(service, copy) == newer


@pytest.mark.usefixtures("imported")
async def test_the_accounts_own_history_is_kept_and_what_it_cannot_place_reported(
    db: Database, service: ProgressService
) -> None:
    source, target = await new_account(db), await new_account(db)
    await record(service, source, [(TOPICS[0], "done"), (TOPICS[1], "learning")])
    await record(service, target, [(TOPICS[0], "skipped")])  # its own, different history
    document = await exported(service, source)
    stranger = ExportedEvent(
        seq=99,
        topic_id="no-such-section.topic",
        from_status="pending",
        to_status="done",
        at=utcnow(),
        roadmap_version=1,
    )
    document[0].events.append(stranger)
    document.append(ExportedLog(roadmap="no-such-roadmap", events=[]))

    report = await service.archive.restore(target, document)
    assert report.topics_kept == [f"backend/{TOPICS[0]}"]
    assert report.unknown_topics == ["backend/no-such-section.topic"]
    assert report.unknown_roadmaps == ["no-such-roadmap"]
    assert report.events_added == 1
    view, _ = await service.view(target, "backend")
    assert (view.statuses[TOPICS[0]], view.statuses[TOPICS[1]]) == ("skipped", "learning")
    history = await service.history(target, "backend", before=None, limit=10)
    assert [(e.seq, e.topic_id) for e in history] == [(2, TOPICS[1]), (1, TOPICS[0])]


@pytest.mark.usefixtures("imported")
async def test_a_log_that_could_not_have_been_written_is_refused_whole(
    db: Database, service: ProgressService
) -> None:
    learner = await new_account(db)
    now = utcnow()

    def event(seq: int, topic: str, before: str, after: str) -> ExportedEvent:
        return ExportedEvent(
            seq=seq,
            topic_id=topic,
            from_status=before,  # type: ignore[arg-type]
            to_status=after,  # type: ignore[arg-type]
            at=now,
            roadmap_version=1,
        )

    good = ExportedLog(roadmap="backend", events=[event(1, TOPICS[0], "pending", "done")])
    cases = {
        "progress[1].events[1].from_status": [
            event(1, TOPICS[1], "pending", "done"),
            event(2, TOPICS[1], "learning", "skipped"),  # the topic was done, not learning
        ],
        "progress[1].events[1].seq": [
            event(2, TOPICS[1], "pending", "done"),
            event(2, TOPICS[2], "pending", "done"),
        ],
        "progress[1].events[0].to_status": [event(1, TOPICS[1], "pending", "pending")],
    }
    for field, events in cases.items():
        bad = ExportedLog(roadmap="other", events=events)
        with pytest.raises(ValidationFailed) as refused:
            await service.archive.restore(learner, [good, bad])
        assert [error.field for error in refused.value.errors] == [field]
    with pytest.raises(ValidationFailed) as twice:
        await service.archive.restore(learner, [good, good])
    assert [error.field for error in twice.value.errors] == ["progress[1].roadmap"]
    assert await service.archive.heads(learner.id) == []  # nothing written


@pytest.mark.usefixtures("imported")
async def test_a_retired_topics_history_is_exported_and_restored(
    db: Database, service: ProgressService
) -> None:
    source, copy = await new_account(db), await new_account(db)
    first = SPEC.sections[0]
    dropped = first.topics[0].id
    await record(service, source, [(dropped, "done"), (first.topics[1].id, "done")])
    edited = msgspec.structs.replace(
        SPEC,
        sections=[
            msgspec.structs.replace(
                first, topics=[*first.topics[1:], TopicSpec(id=f"{first.id}.new", title="New")]
            ),
            *SPEC.sections[1:],
        ],
    )
    async with db.transaction() as conn:
        await import_roadmap(conn, edited, now=utcnow())
    document = await exported(service, source)
    assert dropped in {event.topic_id for event in document[0].events}

    await service.archive.restore(copy, document)
    assert await exported(service, copy) == document
    view, _ = await service.view(copy, "backend")
    assert view.counts.done == 1  # the retired topic's change is history, not a count
    assert view.version == 2
    assert view.changes_since_seen is not None  # seen: version 1
