"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import DateTime, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out. SQLite keeps no offset, so it is restored on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is UTC:  # what asyncpg gives: nothing to do
            return moment
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class JsonObject(TypeDecorator[dict[str, Any]]):
    """A JSON object read back as a dict (`{}` for NULL): the result of `object_agg`."""

    impl = Text()
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any]:
        if value is None:
            return {}
        if isinstance(value, dict):  # SQLAlchemy's asyncpg dialect decodes json itself
            return value
        decoded: dict[str, Any] = msgspec.json.decode(value)  # bare asyncpg, SQLite: text
        return decoded


class object_agg(FunctionElement[dict[str, Any]]):
    """`{key: value, ...}` over a group's rows, as one JSON object: PostgreSQL's
    `json_object_agg`, SQLite's `json_group_object`. A list of many small rows costs more to
    read than the rows' work (asyncpg decodes, the columns' processors run, per row); one
    column of JSON is decoded at once."""

    type = JsonObject()
    inherit_cache = True
    name = "object_agg"


@compiles(object_agg, "postgresql")
def _object_agg_postgresql(element: object_agg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object_agg({compiler.process(element.clauses, **kw)})"


@compiles(object_agg, "sqlite")
def _object_agg_sqlite(element: object_agg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_object({compiler.process(element.clauses, **kw)})"
