"""What a team's progress report costs PostgreSQL, and that it does not grow with the length
of the members' histories (issue 13: "its cost must not grow with the length of members'
histories"): the same members, with the same statuses, reached once in as few changes as
possible, then after 300 more each, are read with the same statements, the same arguments,
and PostgreSQL reads the same rows from each table (EXPLAIN ANALYZE), none from the event
log. (Not the same pages: the updates behind a long history leave a small table that
PostgreSQL scans sequentially with more pages, until their space is reused; that is write
churn, which vacuum bounds, not history.) And the bench's limit for the route
(`bench/limits/raw_team_progress.py`) sends the very statements the app sends."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from bench.limits._team_sql import statements
from sqlalchemy import func, select

from tests.integration.progress_support import TOPICS, new_account
from tests.integration.teams_support import accounts_on, seed_team, team_services
from tests.recording import Reading, RecordingDatabase, Sent, explain
from waymark.features.progress.schemas import BatchItem, Status
from waymark.features.progress.service import ProgressService
from waymark.features.progress.tables import progress_events
from waymark.features.teams.schemas import TeamProgress
from waymark.features.teams.service import Teams
from waymark.kernel.identity import Account

pytestmark = [pytest.mark.usefixtures("backend_roadmap"), pytest.mark.backend("postgresql")]

MEMBERS = 10
LONG = 300
"""Changes each member who started makes on top of the shortest history to their statuses."""
CYCLE: tuple[Status, ...] = ("learning", "done", "skipped")


def statuses_of(member: int) -> dict[str, Status]:
    """A mix: the last member never started; the others have a few topics done, one
    learning, one skipped, from a place of their own."""
    if member == MEMBERS - 1:
        return {}
    start = 3 * member
    statuses: dict[str, Status] = dict.fromkeys(TOPICS[start : start + 2 + member], "done")
    statuses[TOPICS[start + 2 + member]] = "learning"
    statuses[TOPICS[start + 3 + member]] = "skipped"
    return statuses


def batch(statuses: dict[str, Status]) -> list[BatchItem]:
    return [BatchItem(topic_id=topic, status=status) for topic, status in statuses.items()]


async def lengthen(progress: ProgressService, member: Account, statuses: dict[str, Status]) -> None:
    """At least `LONG` changes that end where they began: passes over the member's topics,
    each moving every one a status on round `CYCLE` (a real change each time), three passes
    going round once."""
    rounds = math.ceil(LONG / (len(CYCLE) * len(statuses)))
    for step in range(1, len(CYCLE) * rounds + 1):
        moved = {t: CYCLE[(CYCLE.index(s) + step) % len(CYCLE)] for t, s in statuses.items()}
        await progress.set_statuses(member, "backend", batch(moved))


async def events_of(db: RecordingDatabase, members: list[Account]) -> list[int]:
    query = (
        select(progress_events.c.user_id, func.count().label("n"))
        .where(progress_events.c.user_id.in_([m.id for m in members]))
        .group_by(progress_events.c.user_id)
    )
    async with db.read() as conn:
        counts = {row.user_id: row.n for row in await conn.execute(query)}
    return [counts.get(m.id, 0) for m in members]


async def report(
    db: RecordingDatabase, teams: Teams, caller: Account, team: uuid.UUID
) -> tuple[list[Sent], list[Reading], TeamProgress]:
    """The statements of one report, what PostgreSQL did for each, and the report."""
    async with db.recording() as sent:
        view = await teams.reports.on_roadmap(caller, team, "backend")
    return sent, [await explain(db, statement) for statement in sent], view


def numbers(view: TeamProgress) -> Any:
    """The report but for when things happened (a longer history ends later)."""
    return (
        [(m.account_id, m.role, m.counts) for m in view.members],
        view.overall,
        view.topics,
    )


async def test_a_report_reads_the_same_rows_however_long_the_members_histories(
    recorded: RecordingDatabase,
) -> None:
    db = recorded
    members = [await new_account(db) for _ in range(MEMBERS)]
    owner, team = members[0], uuid.uuid4()
    await seed_team(
        db, team, {m.id: "owner" if m is owner else "member" for m in members}, roadmap="backend"
    )
    finals = [statuses_of(number) for number in range(MEMBERS)]
    async with team_services(db) as (teams, progress):
        for member, statuses in zip(members, finals, strict=True):
            if statuses:
                await progress.set_statuses(member, "backend", batch(statuses))
        await teams.reports.on_roadmap(owner, team, "backend")  # the catalog's cache is warm
        short = await report(db, teams, owner, team)
        short_events = await events_of(db, members)
        for member, statuses in zip(members, finals, strict=True):
            if statuses:
                await lengthen(progress, member, statuses)
        long = await report(db, teams, owner, team)
        long_events = await events_of(db, members)

    # The histories: as short as the statuses allow, then 300 changes or more longer.
    assert short_events == [len(statuses) for statuses in finals]
    assert all(
        after - before >= LONG or not statuses
        for before, after, statuses in zip(short_events, long_events, finals, strict=True)
    ), long_events
    # The same statements with the same arguments, the same rows answered and read.
    (short_sent, short_reads, short_view), (long_sent, long_reads, long_view) = short, long
    assert long_sent == short_sent
    assert long_reads == short_reads
    assert numbers(long_view) == numbers(short_view)
    assert 0 < len(short_sent) <= 8
    assert not any("progress_events" in sql for sql, _ in short_sent)
    assert not any("progress_events" in reading.read for reading in short_reads)
    # Rows read stay within what the report shows: at most a row per member and topic.
    assert sum(sum(reading.read.values()) for reading in short_reads) <= MEMBERS * (len(TOPICS) + 4)


async def test_the_benchs_limit_sends_the_statements_the_app_sends(
    recorded: RecordingDatabase,
) -> None:
    """What `bench/limits/raw_team_progress.py` runs per request, in order and with the same
    arguments: the caller's account (the authenticator's hot read), then the report's."""
    db = recorded
    members = [await new_account(db) for _ in range(5)]
    manager, team = members[1], uuid.uuid4()
    roles = ["owner", "manager", *["member"] * 3]
    await seed_team(
        db, team, {m.id: role for m, role in zip(members, roles, strict=True)}, roadmap="backend"
    )
    async with team_services(db) as (teams, progress):
        await progress.set_statuses(manager, "backend", batch(statuses_of(0)))
        view = await teams.reports.on_roadmap(manager, team, "backend")
        async with db.recording() as sent:
            assert await accounts_on(db).profiles.active(manager.id) is not None
            await teams.reports.on_roadmap(manager, team, "backend")

    assert [sql for sql, _ in sent] == statements(len(members))
    ids = tuple(m.id for m in members)  # longest-standing first, as seeded
    assert [m.account_id for m in view.members] == list(ids)
    roadmap_id = sent[4][1][0]
    assert [args for _, args in sent] == [
        (manager.id,),
        (manager.id, team),
        (team, "backend"),
        (team,),
        (roadmap_id, *ids),
        (roadmap_id, "pending", *ids),
        ids,
    ]
