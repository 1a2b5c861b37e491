"""A `Database` that shows every statement it sends, for tests that count them: through
SQLAlchemy's pool (`before_cursor_execute`) and straight from the driver (`HotRead`, through the
hot-read connection's query loggers), and PostgreSQL's own account of the rows one
statement reads (`explain`)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from sqlalchemy import event

from waymark.infra.sql.database import Database

Sent = tuple[str, tuple[Any, ...]]
"""A statement's SQL and its arguments, as the driver got them."""


class RecordingDatabase(Database):
    """A `Database` whose statements, while `recording()`, are kept in order.

    The statements of `HotRead`s are logged by the hot-read connection after they ran
    (asyncpg calls its loggers soon after, on the event loop), those through SQLAlchemy
    before: a
    test should take them from one path or the other, not rely on their interleaving."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._log: list[Sent] | None = None
        self._loggers: dict[int, Any] = {}
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any
    ) -> None:
        if self._log is not None:
            self._log.append((statement, tuple(parameters or ())))

    async def _take_driver_connection(self) -> Any:
        """Every hot-read connection taken (`driver_connection`, `hot_reads`) logs what it
        sends until it is given back."""
        conn = await super()._take_driver_connection()
        log = self._log

        def logged(query: Any) -> None:
            if log is not None:
                log.append((query.query, tuple(query.args)))

        conn.add_query_logger(logged)
        self._loggers[id(conn)] = logged
        return conn

    async def _give_back_driver_connection(self, conn: Any, *, reusable: bool = True) -> None:
        conn.remove_query_logger(self._loggers.pop(id(conn)))
        await super()._give_back_driver_connection(conn, reusable=reusable)

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[list[Sent]]:
        """The statements sent within the block (complete once it has ended)."""
        log: list[Sent] = []
        self._log = log
        try:
            yield log
        finally:
            self._log = None
            await asyncio.sleep(0)  # the driver's loggers of the last statements run


class Reading(NamedTuple):
    """What PostgreSQL did to run one statement once (EXPLAIN ANALYZE)."""

    returned: int
    """Rows it answered."""
    read: dict[str, int]
    """Rows read from each table: those each scan returned plus those its filters dropped,
    over all its loops."""


async def explain(db: Database, statement: Sent) -> Reading:
    """Run `statement` again under EXPLAIN ANALYZE (outside `recording()`: it is sent too)."""
    sql, arguments = statement
    async with db.driver_connection() as conn:
        plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *arguments))
    top = plan[0]["Plan"]
    read: Counter[str] = Counter()
    for node in _nodes(top):
        if "Relation Name" in node:
            rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            read[node["Relation Name"]] += rows * node["Actual Loops"]
    return Reading(returned=top["Actual Rows"], read=dict(read))


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)
