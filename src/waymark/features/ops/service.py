"""Readiness beyond "the dependency answers": the database has the schema this code needs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from waymark.infra.sql import migrations
from waymark.infra.sql.database import Database

PROBE_TIMEOUT_SECONDS = 2.0
Probe = Callable[[], Awaitable[None]]
"""Raises when its dependency does not answer, `NotReady` when it answers but cannot serve."""


class NotReady(Exception):
    """A dependency answers but cannot serve this code yet; the message says why."""


async def readiness(probes: Mapping[str, Probe]) -> dict[str, str]:
    """Each dependency's state by name: `"ok"`, or what is wrong (`/readyz`, of the app
    and of the live gateway)."""
    results = await asyncio.gather(*(_probe(probe) for probe in probes.values()))
    return dict(zip(probes, results, strict=True))


async def _probe(probe: Probe) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await probe()
    except NotReady as exc:
        return str(exc)
    except Exception as exc:  # any failure means not ready; say which dependency
        return f"unreachable: {type(exc).__name__}"
    return "ok"


class DatabaseReadiness:
    """The `database` check of `/readyz`: the database answers, and its schema is not behind
    the migrations this code ships.

    Readiness is polled, so the check stays cheap: the migrations are read once, on the first
    check, and once the schema is found good every later check is a `SELECT 1` (a schema does
    not fall behind by itself; a downgrade under a running server is not watched for). A
    revision this code does not know means a newer release migrated first, as in a rolling
    deploy; that counts as ready, since expand-then-contract migrations keep older code working.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._migrations: tuple[str | None, frozenset[str]] | None = None
        self._schema_good = False

    async def __call__(self) -> None:
        if self._schema_good:
            await self.db.ping()
            return
        if self._migrations is None:
            self._migrations = await asyncio.to_thread(_head_and_known_revisions)
        head, known = self._migrations
        async with self.db.read() as conn:
            current = await migrations.revision_of(conn)
        if current != head and (current is None or current in known):
            raise NotReady(
                f"schema behind: at {current or 'base (empty)'}, head is {head}; "
                "run `waymark db upgrade`"
            )
        self._schema_good = True


def _head_and_known_revisions() -> tuple[str | None, frozenset[str]]:
    scripts = migrations.scripts()
    known = frozenset(script.revision for script in scripts.walk_revisions())
    return scripts.get_current_head(), known
