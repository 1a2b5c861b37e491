"""`waymark outbox stats|prune|retry-dead`, run as an operator runs them, on a SQLite file."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.e2e.test_cli_and_serve import env, waymark
from waymark.infra.outbox import DEAD, DONE, PENDING, Outbox
from waymark.infra.outbox.tables import outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.settings import resolve_database_url

__all__ = ["env"]

pytestmark = pytest.mark.slow


def _database(env: dict[str, str]) -> Database:
    return Database(resolve_database_url(None, Path(env["WAYMARK_VAR_DIR"])))


def seed(env: dict[str, str], *messages: tuple[str, str, timedelta]) -> list[str]:
    """Messages of (kind, state, age): created `age` ago, and delivered or dead as long ago."""

    async def _seed() -> list[str]:
        db = _database(env)
        ids = []
        try:
            async with db.transaction() as conn:
                for kind, state, age in messages:
                    at = utcnow() - age
                    message_id = await Outbox().enqueue(conn, kind, {"n": len(ids)}, now=at)
                    assert message_id is not None
                    processed = None if state == PENDING else at
                    await conn.execute(
                        update(outbox)
                        .where(outbox.c.id == message_id)
                        .values(state=state, processed_at=processed, attempts=1)
                    )
                    ids.append(message_id)
        finally:
            await db.dispose()
        return ids

    return asyncio.run(_seed())


def states(env: dict[str, str]) -> dict[str, str]:
    async def _read() -> dict[str, str]:
        db = _database(env)
        try:
            async with db.read() as conn:
                rows = await conn.execute(select(outbox.c.id, outbox.c.state))
                return {row.id: row.state for row in rows}
        finally:
            await db.dispose()

    return asyncio.run(_read())


@pytest.fixture
def migrated(env: dict[str, str]) -> dict[str, str]:
    waymark(env, "db", "upgrade")
    return env


HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def test_stats_counts_per_state_and_kind_and_ages_the_oldest_pending(
    migrated: dict[str, str],
) -> None:
    empty = waymark(migrated, "outbox", "stats")
    assert empty.stdout.splitlines() == ["pending: 0", "done: 0", "dead: 0", "oldest pending: none"]

    seed(
        migrated,
        ("mail.send", PENDING, 2 * HOUR),
        ("mail.send", PENDING, HOUR),
        ("accounts.mail", PENDING, timedelta(minutes=5)),
        ("mail.send", DONE, 10 * DAY),
        ("accounts.mail", DEAD, 3 * DAY),
    )
    before = utcnow()
    lines = waymark(migrated, "outbox", "stats").stdout.splitlines()
    assert lines[:3] == ["pending: 3", "done: 1", "dead: 1"]
    age = re.fullmatch(r"oldest pending: (\d+):(\d\d):(\d\d) old \(created (.+)\)", lines[3])
    assert age is not None, lines[3]
    hours, minutes, seconds = (int(part) for part in age.groups()[:3])
    assert timedelta(hours=hours, minutes=minutes, seconds=seconds) - 2 * HOUR < timedelta(
        seconds=30
    )
    assert before - datetime.fromisoformat(age[4]) >= 2 * HOUR - timedelta(seconds=1)
    rows = {line.split()[1]: line.split()[3:8:2] for line in lines[4:] if "." in line}
    assert rows == {"accounts.mail": ["1", "0", "1"], "mail.send": ["2", "1", "0"]}


def test_prune_deletes_delivered_messages_older_than_the_retention_and_keeps_dead_ones(
    migrated: dict[str, str],
) -> None:
    old_done, recent_done, old_dead, pending = seed(
        migrated,
        ("mail.send", DONE, 8 * DAY),
        ("mail.send", DONE, 2 * DAY),
        ("mail.send", DEAD, 30 * DAY),
        ("mail.send", PENDING, 30 * DAY),
    )
    default = waymark(migrated, "outbox", "prune")  # WAYMARK_MAINTENANCE__OUTBOX_RETENTION_DAYS
    assert default.stdout == "deleted 1 message(s) delivered more than 7 day(s) ago\n"
    assert set(states(migrated)) == {recent_done, old_dead, pending}

    configured = migrated | {"WAYMARK_MAINTENANCE__OUTBOX_RETENTION_DAYS": "1.5"}
    assert "deleted 1 message(s)" in waymark(configured, "outbox", "prune").stdout
    assert (
        "deleted 0 message(s)" in waymark(migrated, "outbox", "prune", "--older-than", "0").stdout
    )
    assert states(migrated) == {old_dead: DEAD, pending: PENDING}

    refused = waymark(migrated, "outbox", "prune", "--older-than", "-1", check=False)
    assert refused.returncode == 2
    assert old_done not in states(migrated)


def test_retry_dead_puts_the_named_or_all_dead_messages_back_all_or_nothing(
    migrated: dict[str, str],
) -> None:
    first, second, third, delivered = seed(
        migrated,
        ("mail.send", DEAD, DAY),
        ("mail.send", DEAD, DAY),
        ("accounts.mail", DEAD, DAY),
        ("mail.send", DONE, DAY),
    )
    for usage in ((), (first, "--all")):
        wrong = waymark(migrated, "outbox", "retry-dead", *usage, check=False)
        assert wrong.returncode == 2
        assert "give the ids of dead messages, or --all" in wrong.stderr

    unknown = "01890000-0000-7000-8000-000000000000"
    refused = waymark(migrated, "outbox", "retry-dead", first, delivered, unknown, check=False)
    assert refused.returncode == 2
    assert f"error (not-found): no dead message {delivered}, {unknown}; nothing retried" in (
        refused.stderr
    )
    assert [states(migrated)[i] for i in (first, second, third)] == [DEAD] * 3

    retried = waymark(migrated, "outbox", "retry-dead", first, first)
    assert retried.stdout == "1 dead message(s) back in line\n"
    assert [states(migrated)[i] for i in (first, second, third)] == [PENDING, DEAD, DEAD]

    assert waymark(migrated, "outbox", "retry-dead", "--all").stdout == (
        "2 dead message(s) back in line\n"
    )
    assert waymark(migrated, "outbox", "stats").stdout.startswith("pending: 3\ndone: 1\ndead: 0\n")
    assert "0 dead message(s)" in waymark(migrated, "outbox", "retry-dead", "--all").stdout
