"""What PostgreSQL did during one measured run: the sessions opened on the bench database,
and the CPU of all its processes, backends that started and ended during the run included.

Both are read around every run (`snapshot()` before and after, `usage()` the difference):

- **sessions**: `pg_stat_database.sessions` of the bench database (PostgreSQL 14+), which a
  backend counts as soon as it is ready for its first query and which an ending backend
  never takes back. It is read on one admin connection, opened once per profile on the
  *maintenance* database: it is no session of the bench database and opens none per read.
  Sessions opened on the server's other databases are counted apart: on a shared server
  (another session's test suite), they say whose backends the exited CPU was.
- **CPU**: utime+stime of the postmaster and its live descendants, plus the cutime+cstime
  of those processes (the CPU of the children they reaped). A backend that exits is reaped
  by the postmaster, so its CPU leaves the live sum and lands in the postmaster's cutime:
  the sum of both is all the server ever used, and its difference counts a backend that
  lived only during the run in full. The live-only figure, what the harness reported
  before, is kept beside it: the difference is the CPU of the backends that exited.

The admin backend's own CPU (two small queries per run) is in the figure, like any other
process of that server's.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from bench.procs import cpu_delta, process_tree_cpu, reaped_children_cpu

_SESSIONS = "SELECT datname, sessions FROM pg_stat_database WHERE datname IS NOT NULL"
_BUSY = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = $1 AND state IN ('active', 'idle in transaction')"
)


@dataclass(frozen=True)
class DbSnapshot:
    sessions: dict[str, int] | None
    """`pg_stat_database.sessions` by database name; None when the server has no such count."""
    live: dict[int, float] = field(default_factory=dict)
    """utime+stime of the postmaster's live process tree, by pid."""
    reaped: float = 0.0
    """cutime+cstime of that tree: the CPU of its processes that exited and were waited for."""


@dataclass(frozen=True)
class DbUsage:
    """The difference between two snapshots."""

    sessions: int | None
    """New sessions on the bench database; None when the server does not count them."""
    sessions_elsewhere: int | None
    """New sessions on the server's other databases (those that still exist at the end)."""
    cpu_s: float | None
    """All of the server's CPU, backends that exited included; None without its pid."""
    cpu_live_s: float | None
    """Only the processes alive at the end of the run (new ones in full)."""


class PostgresProbe:
    """Reads the two snapshots of a run. Use as a context manager: it holds the admin
    connection (and an event loop for it) for as long as the profile runs."""

    def __init__(self, admin_url: str, database: str, server_pid: int | None) -> None:
        self.admin_url = admin_url
        self.database = database
        self.server_pid = server_pid
        self._runner: asyncio.Runner | None = None
        self._conn: Any = None

    def __enter__(self) -> PostgresProbe:
        import asyncpg

        self._runner = asyncio.Runner()
        try:
            self._conn = self._runner.run(asyncpg.connect(self.admin_url, timeout=10))
            if self._sessions() is None:
                # PostgreSQL before 14 (no `sessions` column) or a missing database.
                self._close()
        except Exception:
            self._close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    def _close(self) -> None:
        runner, conn = self._runner, self._conn
        self._runner = self._conn = None
        if runner is None:
            return
        try:
            if conn is not None:
                with contextlib.suppress(Exception):  # closing anyway: the loop goes next
                    runner.run(conn.close(timeout=5))
        finally:
            runner.close()

    def _sessions(self) -> dict[str, int] | None:
        if self._conn is None or self._runner is None:
            return None
        try:
            rows = self._runner.run(self._conn.fetch(_SESSIONS, timeout=5))
        except Exception:  # an older server without the column: no session count
            return None
        counts = {str(name): int(sessions) for name, sessions in rows if sessions is not None}
        return counts if self.database in counts else None

    def busy_sessions(self) -> int | None:
        """Sessions of the bench database running a statement or inside a transaction now;
        None when it cannot be read."""
        if self._conn is None or self._runner is None:
            return None
        try:
            return int(self._runner.run(self._conn.fetchval(_BUSY, self.database, timeout=5)))
        except Exception:
            return None

    def snapshot(self) -> DbSnapshot:
        sessions = self._sessions()
        if self.server_pid is None:
            return DbSnapshot(sessions)
        live = process_tree_cpu(self.server_pid)
        return DbSnapshot(sessions, live, reaped_children_cpu(live))

    def usage(self, before: DbSnapshot, after: DbSnapshot) -> DbUsage:
        sessions = elsewhere = None
        if after.sessions is not None and before.sessions is not None:
            new = {name: n - before.sessions.get(name, 0) for name, n in after.sessions.items()}
            sessions = new.pop(self.database)
            elsewhere = sum(max(0, n) for n in new.values())
        if self.server_pid is None:
            return DbUsage(sessions, elsewhere, None, None)
        total = sum(after.live.values()) + after.reaped - sum(before.live.values()) - before.reaped
        live = cpu_delta(before.live, after.live)
        # /proc counts in clock ticks (1/100 s): round away the float sums' noise.
        return DbUsage(sessions, elsewhere, round(max(0.0, total), 3), round(live, 3))
