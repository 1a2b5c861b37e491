"""Tables of the embedded document store (`SqlDocumentStore`): documents in a JSON column,
and the lookup keys `find` goes through.

Keys compare byte by byte, as the port orders them: SQLite's default collation does that,
PostgreSQL's columns say `COLLATE "C"` (a database's own collation, `en_US.UTF-8` say, puts
`a-b` after `ab`). Bodies are `json`, not `jsonb`, on PostgreSQL: nothing queries inside
them, and `jsonb` rewrites numbers (`1e300` reads back as an integer), where the port
promises a body reads back equal to what was written.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKeyConstraint, String, Table

from waymark.infra.sql.metadata import metadata
from waymark.kernel.ports import MAX_COLLECTION_LENGTH, MAX_KEY_LENGTH, MAX_OWNER_LENGTH


def _binary(length: int) -> String:
    return String(length).with_variant(String(length, collation="C"), "postgresql")


documents = Table(
    "documents",
    metadata,
    Column("owner", _binary(MAX_OWNER_LENGTH), primary_key=True),
    Column("collection", _binary(MAX_COLLECTION_LENGTH), primary_key=True),
    Column("key", _binary(MAX_KEY_LENGTH), primary_key=True),
    Column("revision", String(64), nullable=False),
    Column("body", JSON(), nullable=False),
)

document_lookups = Table(
    "document_lookups",
    metadata,
    Column("owner", _binary(MAX_OWNER_LENGTH), primary_key=True),
    Column("collection", _binary(MAX_COLLECTION_LENGTH), primary_key=True),
    Column("lookup_key", _binary(MAX_KEY_LENGTH), primary_key=True),
    Column("key", _binary(MAX_KEY_LENGTH), primary_key=True),
    ForeignKeyConstraint(
        ["owner", "collection", "key"],
        ["documents.owner", "documents.collection", "documents.key"],
        ondelete="CASCADE",
    ),
)
