"""The app's own SQLAlchemy statements compiled once for PostgreSQL, for limits that must send
the same SQL as the app (so the same SQL by construction, not by copy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

_DIALECT = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


class Statement:
    """One of the app's statements compiled for PostgreSQL: its SQL and parameter order."""

    def __init__(self, statement: Any, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=_DIALECT, column_keys=keys)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]
