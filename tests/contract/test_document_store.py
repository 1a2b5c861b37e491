"""DocumentStore contract: JSON documents per owner and collection, conditional writes on a
revision, key-ordered scans by prefix, lookups, deleting an owner's everything, and the
documents every adapter must refuse.

A second adapter (MongoDB) runs this suite by subclassing `DocumentStoreContract` with a
`documents` fixture of its own.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest
from sqlalchemy import text

from waymark.infra.sql.database import Database
from waymark.infra.sql.documents import SqlDocumentStore
from waymark.kernel.ports import (
    ABSENT,
    MAX_DOCUMENT_BYTES,
    MAX_KEY_LENGTH,
    MAX_LOOKUP_KEYS,
    MAX_NESTING,
    MAX_OWNER_LENGTH,
    MAX_SCAN_LIMIT,
    DocumentStore,
    RevisionConflict,
    StoredDocument,
)

ADA, BOB = "0b6f6c1e-6b1c-4c7e-9a49-1f3e0a6d2c11", "7f0d4b1a-2f8e-4d55-b3a2-9c0e51d3a8f4"
REVISION = re.compile(r"[A-Za-z0-9_-]{1,64}")

EVERY_KIND_OF_VALUE: dict[str, Any] = {
    "text": 'Ünïcödé, 日本語, emoji 🦉, quotes " and \\ and\ttab\nnewline',
    "empty": "",
    "int": 42,
    "int64": [2**63 - 1, -(2**63)],
    "floats": [0.1, -1.5, 1e300, 2.5e-300],
    "bools": [True, False],
    "null": None,
    "list": [1, "two", [3.0], {"four": 4}],
    "nested": {"a": {"b": {"c": []}}},
    "empty_object": {},
    "long": "x" * 100_000,
}


def nested(depth: int) -> dict[str, Any]:
    """An object with arrays and objects `depth` levels deep, itself included."""
    value: Any = []
    for _ in range(depth - 2):
        value = [value]
    return {"deep": value} if depth > 1 else {}


class DocumentStoreContract:
    # -- get and put -----------------------------------------------------------------------

    async def test_a_document_reads_back_as_written(self, documents: DocumentStore) -> None:
        assert await documents.get(ADA, "notes", "backend/databases.redis") is None
        written = await documents.put(
            ADA,
            "notes",
            "backend/databases.redis",
            EVERY_KIND_OF_VALUE,
            lookup_keys=["zeta", "alpha", "alpha"],
        )
        assert REVISION.fullmatch(written.revision)
        assert written == StoredDocument(
            owner=ADA,
            collection="notes",
            key="backend/databases.redis",
            body=EVERY_KIND_OF_VALUE,
            revision=written.revision,
            lookup_keys=("alpha", "zeta"),
        )
        read = await documents.get(ADA, "notes", "backend/databases.redis")
        assert read == written
        assert read is not None
        assert type(read.body["floats"][2]) is float
        assert type(read.body["int"]) is int

    async def test_every_write_gets_a_revision_never_held_before(
        self, documents: DocumentStore
    ) -> None:
        seen = set()
        for round_ in range(3):
            first = await documents.put(ADA, "notes", "k", {"n": 1}, expected_revision=ABSENT)
            second = await documents.put(ADA, "notes", "k", {"n": 1})
            third = await documents.put(
                ADA, "notes", "k", {"n": 2}, expected_revision=second.revision
            )
            seen |= {first.revision, second.revision, third.revision}
            assert len(seen) == 3 * (round_ + 1)
            assert await documents.delete(ADA, "notes", "k")

    async def test_an_unconditional_put_creates_or_replaces(self, documents: DocumentStore) -> None:
        await documents.put(ADA, "notes", "k", {"v": 1}, lookup_keys=["old"])
        replaced = await documents.put(ADA, "notes", "k", {"w": 2})
        assert replaced.body == {"w": 2}
        assert await documents.get(ADA, "notes", "k") == replaced
        assert replaced.lookup_keys == ()
        assert await documents.find(ADA, "notes", "old") == []

    # -- conditional writes ------------------------------------------------------------------

    async def test_expecting_absent_creates_only_once(self, documents: DocumentStore) -> None:
        created = await documents.put(ADA, "notes", "k", {"v": 1}, expected_revision=ABSENT)
        with pytest.raises(RevisionConflict):
            await documents.put(
                ADA, "notes", "k", {"v": 2}, expected_revision=ABSENT, lookup_keys=["x"]
            )
        assert await documents.get(ADA, "notes", "k") == created
        assert await documents.find(ADA, "notes", "x") == []

    async def test_expecting_a_revision_writes_only_over_that_revision(
        self, documents: DocumentStore
    ) -> None:
        first = await documents.put(ADA, "notes", "k", {"v": 1}, lookup_keys=["a"])
        second = await documents.put(
            ADA, "notes", "k", {"v": 2}, expected_revision=first.revision, lookup_keys=["b"]
        )
        assert second.body == {"v": 2}
        with pytest.raises(RevisionConflict):  # someone else wrote since `first` was read
            await documents.put(
                ADA, "notes", "k", {"v": 3}, expected_revision=first.revision, lookup_keys=["c"]
            )
        assert await documents.get(ADA, "notes", "k") == second
        assert [d.key for d in await documents.find(ADA, "notes", "b")] == ["k"]
        assert await documents.find(ADA, "notes", "c") == []

    async def test_expecting_a_revision_of_a_missing_document_conflicts(
        self, documents: DocumentStore
    ) -> None:
        gone = await documents.put(ADA, "notes", "k", {"v": 1})
        await documents.delete(ADA, "notes", "k")
        for revision in (gone.revision, "never-handed-out"):
            with pytest.raises(RevisionConflict):
                await documents.put(ADA, "notes", "k", {"v": 2}, expected_revision=revision)
        assert await documents.get(ADA, "notes", "k") is None

    async def test_of_concurrent_writes_expecting_one_state_exactly_one_wins(
        self, documents: DocumentStore
    ) -> None:
        async def attempt(n: int, expected: Any) -> StoredDocument | None:
            try:
                return await documents.put(
                    ADA, "notes", "k", {"n": n}, expected_revision=expected, lookup_keys=[f"l{n}"]
                )
            except RevisionConflict:
                return None

        created = await asyncio.gather(*(attempt(n, ABSENT) for n in range(8)))
        (winner,) = [c for c in created if c is not None]
        updated = await asyncio.gather(*(attempt(n, winner.revision) for n in range(8, 16)))
        (last,) = [u for u in updated if u is not None]
        assert await documents.get(ADA, "notes", "k") == last
        assert len([d for n in range(16) for d in await documents.find(ADA, "notes", f"l{n}")]) == 1

    # -- delete ------------------------------------------------------------------------------

    async def test_delete(self, documents: DocumentStore) -> None:
        await documents.put(ADA, "notes", "k", {"v": 1}, lookup_keys=["l"])
        assert await documents.delete(ADA, "notes", "k") is True
        assert await documents.delete(ADA, "notes", "k") is False
        assert await documents.get(ADA, "notes", "k") is None
        assert await documents.find(ADA, "notes", "l") == []
        assert await documents.scan(ADA, "notes") == []

    async def test_a_conditional_delete_deletes_only_that_revision(
        self, documents: DocumentStore
    ) -> None:
        first = await documents.put(ADA, "notes", "k", {"v": 1})
        second = await documents.put(ADA, "notes", "k", {"v": 2})
        with pytest.raises(RevisionConflict):
            await documents.delete(ADA, "notes", "k", expected_revision=first.revision)
        assert await documents.get(ADA, "notes", "k") == second
        assert await documents.delete(ADA, "notes", "k", expected_revision=second.revision)
        assert await documents.delete(ADA, "notes", "k", expected_revision=second.revision) is False

    # -- scan and find -----------------------------------------------------------------------

    async def test_scan_lists_keys_with_a_prefix_in_byte_order(
        self, documents: DocumentStore
    ) -> None:
        # A database collation such as en_US.UTF-8 would order these differently (it mostly
        # ignores case and punctuation); the port's order is the characters' own.
        keys = ["r/ab", "r/a-b", "r/aB", "r/a_b", "r/Z", "r/a~", "r/a", "r/a/b", "r/b", "r/!"]
        for key in keys:
            await documents.put(ADA, "notes", key, {"key": key})
        for key in ("q/a", "r", "s/a", "R/a"):
            await documents.put(ADA, "notes", key, {"key": key})
        await documents.put(ADA, "other", "r/x", {})
        await documents.put(BOB, "notes", "r/y", {})

        scanned = await documents.scan(ADA, "notes", prefix="r/")
        assert [d.key for d in scanned] == sorted(keys)
        assert [d.body["key"] for d in scanned] == sorted(keys)
        assert [d.key for d in await documents.scan(ADA, "notes", prefix="r/a")] == sorted(
            k for k in keys if k.startswith("r/a")
        )
        assert [d.key for d in await documents.scan(ADA, "notes", prefix="r/a~")] == ["r/a~"]
        assert await documents.scan(ADA, "notes", prefix="r/c") == []
        everything = await documents.scan(ADA, "notes")
        assert [d.key for d in everything] == sorted([*keys, "q/a", "r", "s/a", "R/a"])

    async def test_scan_pages_through_after_the_last_key(self, documents: DocumentStore) -> None:
        keys = [f"t/{n:03d}" for n in range(25)]
        for key in reversed(keys):
            await documents.put(ADA, "notes", key, {})
        pages, after = [], None
        while True:
            page = await documents.scan(ADA, "notes", prefix="t/", after=after, limit=10)
            pages.append([d.key for d in page])
            if len(page) < 10:
                break
            after = page[-1].key
        assert pages == [keys[:10], keys[10:20], keys[20:]]
        assert await documents.scan(ADA, "notes", after="t/024") == []
        assert [d.key for d in await documents.scan(ADA, "notes", after="t", limit=1)] == ["t/000"]

    async def test_find_by_lookup_key(self, documents: DocumentStore) -> None:
        await documents.put(ADA, "resources", "b", {}, lookup_keys=["shared", "only-b"])
        await documents.put(ADA, "resources", "a", {}, lookup_keys=["shared"])
        await documents.put(ADA, "resources", "c", {})
        await documents.put(ADA, "notes", "d", {}, lookup_keys=["shared"])
        await documents.put(BOB, "resources", "e", {}, lookup_keys=["shared"])

        assert [d.key for d in await documents.find(ADA, "resources", "shared")] == ["a", "b"]
        (b,) = await documents.find(ADA, "resources", "only-b")
        assert b == await documents.get(ADA, "resources", "b")
        assert b.lookup_keys == ("only-b", "shared")
        assert [d.key for d in await documents.find(ADA, "resources", "shared", limit=1)] == ["a"]
        assert await documents.find(ADA, "resources", "nobody") == []
        assert [d.key for d in await documents.find(BOB, "resources", "shared")] == ["e"]

    async def test_at_most_the_maximum_of_lookup_keys(self, documents: DocumentStore) -> None:
        many = [f"id-{n:03d}" for n in range(MAX_LOOKUP_KEYS)]
        written = await documents.put(ADA, "resources", "k", {}, lookup_keys=many)
        assert written.lookup_keys == tuple(many)
        assert (await documents.find(ADA, "resources", many[-1]))[0] == written
        with pytest.raises(ValueError, match="lookup keys"):
            await documents.put(ADA, "resources", "k", {}, lookup_keys=[*many, "one-more"])
        assert await documents.get(ADA, "resources", "k") == written

    # -- owners and collections --------------------------------------------------------------

    async def test_owners_and_collections_are_apart(self, documents: DocumentStore) -> None:
        ada = await documents.put(ADA, "notes", "k", {"who": "ada"})
        bob = await documents.put(BOB, "notes", "k", {"who": "bob"})
        other = await documents.put(ADA, "resources", "k", {"what": "resources"})
        assert await documents.get(ADA, "notes", "k") == ada
        assert await documents.get(BOB, "notes", "k") == bob
        assert await documents.get(ADA, "resources", "k") == other
        with pytest.raises(RevisionConflict):  # another owner's revision means nothing here
            await documents.put(ADA, "notes", "k", {}, expected_revision=bob.revision)
        with pytest.raises(RevisionConflict):
            await documents.delete(ADA, "notes", "k", expected_revision=bob.revision)
        assert await documents.delete(BOB, "notes", "k")
        assert await documents.get(ADA, "notes", "k") == ada

    async def test_delete_owner_deletes_everything_an_owner_has(
        self, documents: DocumentStore
    ) -> None:
        for collection in ("notes", "resources"):
            for key in ("a", "b"):
                await documents.put(ADA, collection, key, {}, lookup_keys=["l"])
        bob = await documents.put(BOB, "notes", "a", {}, lookup_keys=["l"])

        assert await documents.delete_owner(ADA) == 4
        assert await documents.delete_owner(ADA) == 0
        for collection in ("notes", "resources"):
            assert await documents.scan(ADA, collection) == []
            assert await documents.find(ADA, collection, "l") == []
        assert await documents.scan(BOB, "notes") == [bob]
        assert await documents.find(BOB, "notes", "l") == [bob]
        # The owner can start again from nothing.
        await documents.put(ADA, "notes", "a", {}, expected_revision=ABSENT, lookup_keys=["l"])

    # -- what every adapter accepts, and refuses ---------------------------------------------

    async def test_the_largest_of_everything_is_accepted(self, documents: DocumentStore) -> None:
        owner, key = "o" * MAX_OWNER_LENGTH, "~" * MAX_KEY_LENGTH
        collection = "c" + "-" * 62 + "9"
        overhead = len('{"text":""}')
        body = {"text": "é" * ((MAX_DOCUMENT_BYTES - overhead) // 2)}
        written = await documents.put(owner, collection, key, body, lookup_keys=[key])
        assert await documents.get(owner, collection, key) == written
        deep = await documents.put(owner, collection, "deep", nested(MAX_NESTING))
        assert (await documents.get(owner, collection, "deep")) == deep

    @pytest.mark.parametrize(
        ("owner", "collection", "key"),
        [
            ("", "notes", "k"),
            ("a b", "notes", "k"),
            ("o" * (MAX_OWNER_LENGTH + 1), "notes", "k"),
            ("åsa", "notes", "k"),
            (ADA, "", "k"),
            (ADA, "Notes", "k"),
            (ADA, "1notes", "k"),
            (ADA, "no_tes", "k"),
            (ADA, "n" * 65, "k"),
            (ADA, "notes", ""),
            (ADA, "notes", "a b"),
            (ADA, "notes", "tab\t"),
            (ADA, "notes", "clé"),
            (ADA, "notes", "k\x00"),
            (ADA, "notes", "k" * (MAX_KEY_LENGTH + 1)),
        ],
    )
    async def test_bad_names_are_refused(
        self, documents: DocumentStore, owner: str, collection: str, key: str
    ) -> None:
        with pytest.raises(ValueError):  # noqa: PT011  (ValueError is the port's refusal)
            await documents.put(owner, collection, key, {})
        with pytest.raises(ValueError):  # noqa: PT011
            await documents.get(owner, collection, key)
        with pytest.raises(ValueError):  # noqa: PT011
            await documents.delete(owner, collection, key)
        with pytest.raises(ValueError):  # noqa: PT011
            await documents.find(owner, collection, key)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param([], id="not an object"),
            pytest.param({"a": "b\x00c"}, id="NUL in a string"),
            pytest.param({"a\x00": 1}, id="NUL in a field name"),
            pytest.param({"$set": 1}, id="field name starting with $"),
            pytest.param({"a.b": 1}, id="dot in a field name"),
            pytest.param({"": 1}, id="empty field name"),
            pytest.param({"a": {"b": [{"$where": 1}]}}, id="bad field name deep down"),
            pytest.param({"n": 2**63}, id="integer past int64"),
            pytest.param({"n": -(2**63) - 1}, id="integer below int64"),
            pytest.param({"n": math.nan}, id="NaN"),
            pytest.param({"n": math.inf}, id="infinity"),
            pytest.param({"t": (1, 2)}, id="tuple"),
            pytest.param({"s": {1, 2}}, id="set"),
            pytest.param({"b": b"bytes"}, id="bytes"),
            pytest.param({1: "non-string field name"}, id="integer field name"),
            pytest.param(nested(MAX_NESTING + 1), id="nested too deep"),
            pytest.param({"text": "x" * MAX_DOCUMENT_BYTES}, id="too large"),
        ],
    )
    async def test_bodies_no_adapter_could_hold_as_they_are_are_refused(
        self, documents: DocumentStore, body: Any
    ) -> None:
        with pytest.raises(ValueError):  # noqa: PT011
            await documents.put(ADA, "notes", "k", body)
        assert await documents.get(ADA, "notes", "k") is None

    async def test_bad_arguments_are_refused_before_anything_is_written(
        self, documents: DocumentStore
    ) -> None:
        kept = await documents.put(ADA, "notes", "k", {"v": 1})
        refused: list[Any] = [
            documents.put(ADA, "notes", "k", {}, lookup_keys=["a b"]),
            documents.put(ADA, "notes", "k", {}, lookup_keys="single"),  # type: ignore[arg-type]
            documents.put(ADA, "notes", "k", {}, expected_revision="not a revision"),
            documents.delete(ADA, "notes", "k", expected_revision='"quoted"'),
            documents.scan(ADA, "notes", limit=0),
            documents.scan(ADA, "notes", limit=MAX_SCAN_LIMIT + 1),
            documents.scan(ADA, "notes", prefix="a b"),
            documents.scan(ADA, "notes", after=""),
            documents.find(ADA, "notes", "l", limit=0),
            documents.delete_owner(""),
        ]
        for call in refused:
            with pytest.raises(ValueError):  # noqa: PT011
                await call
        assert await documents.get(ADA, "notes", "k") == kept


class TestSqlDocumentStore(DocumentStoreContract):
    @pytest.fixture
    def documents(self, db: Database) -> SqlDocumentStore:
        return SqlDocumentStore(db)

    @pytest.mark.backend("postgresql")
    async def test_keys_compare_bytewise_whatever_the_database_collation(
        self, db: Database
    ) -> None:
        """The scan test passes on a database whose collation is C already; the columns
        must order bytewise on any other too. (SQLite compares text bytewise by default.)"""
        async with db.read() as conn:
            rows = await conn.execute(
                text(
                    "SELECT table_name, column_name, collation_name FROM "
                    "information_schema.columns WHERE table_name IN "
                    "('documents', 'document_lookups') AND data_type <> 'json' "
                    "AND column_name <> 'revision'"
                )
            )
            collations = {(r.table_name, r.column_name): r.collation_name for r in rows}
        assert len(collations) == 7
        assert set(collations.values()) == {"C"}
