"""The notes feature's documents, as the document store keeps them (its `tables.py`).

Each topic of an account has at most one document in each collection, under the topic's
key (`backend/databases.postgresql`):

- `notes`: the note, `{markdown, created_at, updated_at}`.
- `resources`: the learner's own resources on the topic, `{resources: [...]}` in the order
  they were added. One document for all of them, so the cap per topic holds under
  concurrent adds (a conditional write of one document), and a topic's list is one read.
  Their ids are the document's lookup keys: `DELETE /me/resources/{id}` finds it by them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from waymark.features.notes.schemas import ResourceKind

NOTES = "notes"
RESOURCES = "resources"
ATTEMPTS = 5
"""Reads and conditional writes a change of one document tries before it gives up (409):
only a burst of changes to the same document by its own owner makes one lose twice."""

T = TypeVar("T")


class NoteDocument(msgspec.Struct, kw_only=True):
    markdown: str
    created_at: datetime
    updated_at: datetime


class StoredResource(msgspec.Struct, kw_only=True):
    id: str
    title: str
    url: str
    kind: ResourceKind
    added_at: datetime
    checked_at: datetime | None = None
    """When the link checker last fetched `url` (None: never)."""
    dead: bool = False
    """The last check found nothing there (no answer, 404, 410 or a server error)."""


class ResourcesDocument(msgspec.Struct, kw_only=True):
    resources: list[StoredResource] = []

    def ids(self) -> list[str]:
        return [resource.id for resource in self.resources]


def body_of(document: msgspec.Struct) -> dict[str, Any]:
    """A document's body: JSON types only (times as RFC 3339 text)."""
    body: dict[str, Any] = msgspec.to_builtins(document)
    return body


def read(body: dict[str, Any], type_: type[T]) -> T:
    return msgspec.convert(body, type_)
