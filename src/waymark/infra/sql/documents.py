"""The embedded document store: documents in a JSON column of an SQL table.

Each port call is one short transaction of its own (on SQLite `Database.transaction()`
begins IMMEDIATE, so writers queue on the database lock; on PostgreSQL a conditional write
is one statement whose WHERE is checked again on the row it locks), so a conditional write
either wins or changes nothing, like a single-document write in MongoDB. A document's
lookup keys are rows of `document_lookups`, rewritten in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra import documents as rules
from waymark.infra.sql.database import Database, HotRead
from waymark.infra.sql.document_tables import document_lookups, documents
from waymark.kernel.ports import Absent, RevisionConflict, StoredDocument


class SqlDocumentStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, owner: str, collection: str, key: str) -> StoredDocument | None:
        rules.check_owner(owner, collection)
        rules.check_key(key)
        async with self._db.read() as conn:
            found = await _select(conn, _address(owner, collection, key), limit=1)
        return found[0] if found else None

    async def put(
        self,
        owner: str,
        collection: str,
        key: str,
        body: dict[str, Any],
        *,
        expected_revision: str | Absent | None = None,
        lookup_keys: Sequence[str] = (),
    ) -> StoredDocument:
        rules.check_owner(owner, collection)
        rules.check_key(key)
        rules.check_body(body)
        lookups = rules.lookup_keys(lookup_keys)
        if isinstance(expected_revision, str):
            rules.check_revision(expected_revision)
        revision = rules.new_revision()
        row = {"owner": owner, "collection": collection, "key": key}
        async with self._db.transaction() as conn:
            if isinstance(expected_revision, str):
                result = await conn.execute(
                    update(documents)
                    .where(
                        _address(owner, collection, key),
                        documents.c.revision == expected_revision,
                    )
                    .values(revision=revision, body=body)
                    .returning(documents.c.key)
                )
                written = result.first() is not None
            else:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                upsert = dialect.insert(documents).values(**row, revision=revision, body=body)
                statement = (
                    upsert.on_conflict_do_nothing(index_elements=list(documents.primary_key))
                    if expected_revision is Absent.ABSENT
                    else upsert.on_conflict_do_update(
                        index_elements=list(documents.primary_key),
                        set_={"revision": revision, "body": body},
                    )
                )
                # ON CONFLICT, not a caught IntegrityError: the conflict must not abort the
                # transaction (PostgreSQL) before it is reported.
                result = await conn.execute(statement.returning(documents.c.key))
                written = result.first() is not None
            if not written:
                raise RevisionConflict(f"{collection}/{key} is not at the expected revision")
            await conn.execute(delete(document_lookups).where(_lookups_of(owner, collection, key)))
            if lookups:
                await conn.execute(
                    insert(document_lookups),
                    [{**row, "lookup_key": lookup} for lookup in lookups],
                )
        return StoredDocument(
            owner=owner,
            collection=collection,
            key=key,
            body=body,
            revision=revision,
            lookup_keys=lookups,
        )

    async def delete(
        self, owner: str, collection: str, key: str, *, expected_revision: str | None = None
    ) -> bool:
        rules.check_owner(owner, collection)
        rules.check_key(key)
        where = [_address(owner, collection, key)]
        if expected_revision is not None:
            rules.check_revision(expected_revision)
            where.append(documents.c.revision == expected_revision)
        async with self._db.transaction() as conn:
            # Lookup rows go by the foreign key's cascade.
            if (await conn.execute(delete(documents).where(*where))).rowcount == 1:
                return True
            if expected_revision is None:
                return False
            exists = await conn.execute(
                select(documents.c.key).where(_address(owner, collection, key))
            )
            if exists.first() is None:
                return False
        raise RevisionConflict(f"{collection}/{key} is not at the expected revision")

    async def scan(
        self,
        owner: str,
        collection: str,
        *,
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
    ) -> list[StoredDocument]:
        rules.check_owner(owner, collection)
        rules.check_prefix(prefix)
        rules.check_limit(limit)
        if prefix and after is None:  # the first page of a prefix: a roadmap's page, twice
            read = _PREFIX_SCAN["sqlite" if self._db.is_sqlite else "postgresql"]
            found = await read.fetch_all(
                self._db,
                {
                    "owner": owner,
                    "collection": collection,
                    "low": prefix,
                    "high": _successor(prefix),
                    "limit": limit,
                },
            )
            if self._db.is_sqlite:  # the JSON column's own result processor decoded them
                return [_document(row) for row in found]
            # Straight from the driver, whose connections decode no JSON: the body's text.
            return [_document(row, body=json.loads(row["body"])) for row in found]
        where = [documents.c.owner == owner, documents.c.collection == collection]
        if prefix:
            # A range on the primary key, not LIKE (case-insensitive on SQLite): keys are
            # `!` to `~`, so every key starting with the prefix sorts below its last
            # character's successor.
            where += [documents.c.key >= prefix, documents.c.key < _successor(prefix)]
        if after is not None:
            rules.check_key(after, "after")
            where.append(documents.c.key > after)
        async with self._db.read() as conn:
            return await _select(conn, and_(*where), limit=limit)

    async def find(
        self, owner: str, collection: str, lookup_key: str, *, limit: int = 100
    ) -> list[StoredDocument]:
        rules.check_owner(owner, collection)
        rules.check_key(lookup_key, "lookup key")
        rules.check_limit(limit)
        held = select(document_lookups.c.key).where(
            document_lookups.c.owner == owner,
            document_lookups.c.collection == collection,
            document_lookups.c.lookup_key == lookup_key,
        )
        where = and_(
            documents.c.owner == owner,
            documents.c.collection == collection,
            documents.c.key.in_(held.scalar_subquery()),
        )
        async with self._db.read() as conn:
            return await _select(conn, where, limit=limit)

    async def delete_owner(self, owner: str) -> int:
        rules.check_owner(owner)
        async with self._db.transaction() as conn:
            await conn.execute(delete(document_lookups).where(document_lookups.c.owner == owner))
            result = await conn.execute(delete(documents).where(documents.c.owner == owner))
            return int(result.rowcount)


def _address(owner: str, collection: str, key: str) -> ColumnElement[bool]:
    return and_(
        documents.c.owner == owner, documents.c.collection == collection, documents.c.key == key
    )


def _lookups_of(owner: str, collection: str, key: str) -> ColumnElement[bool]:
    return and_(
        document_lookups.c.owner == owner,
        document_lookups.c.collection == collection,
        document_lookups.c.key == key,
    )


def _successor(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


async def _select(
    conn: AsyncConnection, where: ColumnElement[bool], *, limit: int
) -> list[StoredDocument]:
    """The documents matching `where` in key order, each with its lookup keys: one statement,
    so they come from one snapshot, and a body is read once however many keys it has."""
    held = (
        select(func.aggregate_strings(document_lookups.c.lookup_key, " "))
        .where(
            document_lookups.c.owner == documents.c.owner,
            document_lookups.c.collection == documents.c.collection,
            document_lookups.c.key == documents.c.key,
        )
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(documents, held.label("lookup_keys"))
        .where(where)
        .order_by(documents.c.key)
        .limit(limit)
    )
    return [_document(row._mapping) for row in rows]


def _document(row: Mapping[Any, Any], *, body: Any = None) -> StoredDocument:
    lookup_keys = row["lookup_keys"]
    return StoredDocument(
        owner=row["owner"],
        collection=row["collection"],
        key=row["key"],
        body=row["body"] if body is None else body,
        revision=row["revision"],
        # Keys hold no spaces, so a space joins them unambiguously.
        lookup_keys=tuple(sorted(lookup_keys.split(" "))) if lookup_keys else (),
    )


def _prefix_scan(aggregate: Any) -> HotRead:
    """`_select`'s statement for the first page of a key prefix, built once, with the
    separator written into the text (what `aggregate_strings` renders when it runs)."""
    held = (
        select(aggregate(document_lookups.c.lookup_key, literal_column("' '")))
        .where(
            document_lookups.c.owner == documents.c.owner,
            document_lookups.c.collection == documents.c.collection,
            document_lookups.c.key == documents.c.key,
        )
        .scalar_subquery()
    )
    return HotRead(
        select(documents, held.label("lookup_keys"))
        .where(
            documents.c.owner == bindparam("owner", type_=documents.c.owner.type),
            documents.c.collection == bindparam("collection", type_=documents.c.collection.type),
            documents.c.key >= bindparam("low", type_=documents.c.key.type),
            documents.c.key < bindparam("high", type_=documents.c.key.type),
        )
        .order_by(documents.c.key)
        .limit(bindparam("limit", type_=Integer()))
    )


_PREFIX_SCAN = {
    "postgresql": _prefix_scan(func.string_agg),
    "sqlite": _prefix_scan(func.group_concat),
}
