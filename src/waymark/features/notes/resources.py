"""A learner's own resources on a topic (links to articles, videos, courses, books): list,
add, delete by id. A topic holds at most `MAX_RESOURCES_PER_TOPIC`, all in one document."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from typing import TypeVar

from waymark.features.notes.documents import (
    ATTEMPTS,
    RESOURCES,
    ResourcesDocument,
    StoredResource,
    body_of,
    read,
)
from waymark.features.notes.errors import changed_meanwhile
from waymark.features.notes.schemas import (
    MAX_RESOURCES_PER_TOPIC,
    RESOURCE_ID_PATTERN,
    Resource,
    ResourceKind,
)
from waymark.features.notes.topics import Topics, owner, split_key, topic_key, unknown_topic
from waymark.kernel.clock import Clock
from waymark.kernel.errors import FieldError, NotFound, ValidationFailed
from waymark.kernel.ports import ABSENT, DocumentStore, RevisionConflict, StoredDocument

_is_resource_id = re.compile(RESOURCE_ID_PATTERN).fullmatch
T = TypeVar("T")


def new_resource_id() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def as_resource(key: str, stored: StoredResource) -> Resource:
    slug, topic_id = split_key(key)
    return Resource(
        id=stored.id,
        slug=slug,
        topic_id=topic_id,
        title=stored.title,
        url=stored.url,
        kind=stored.kind,
        added_at=stored.added_at,
        dead=stored.dead,
        checked_at=stored.checked_at,
    )


def resources_of(document: StoredDocument) -> list[Resource]:
    stored = read(document.body, ResourcesDocument).resources
    return [as_resource(document.key, resource) for resource in stored]


def too_many() -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(
                "resources",
                f"a topic holds at most {MAX_RESOURCES_PER_TOPIC} resources; delete one first",
            )
        ]
    )


class OwnResources:
    def __init__(self, *, store: DocumentStore, topics: Topics, clock: Clock) -> None:
        self.store = store
        self.topics = topics
        self.clock = clock

    async def list(self, account_id: uuid.UUID, slug: str, topic_id: str) -> list[Resource]:
        """The topic's resources in the order they were added (also on a topic since
        retired, if it has some); `NotFound` for a topic no roadmap has."""
        document = await self.store.get(owner(account_id), RESOURCES, topic_key(slug, topic_id))
        if document is not None:
            return resources_of(document)
        if not await self.topics.is_current(slug, topic_id):
            raise unknown_topic(slug, topic_id)
        return []

    async def add(
        self,
        account_id: uuid.UUID,
        slug: str,
        topic_id: str,
        *,
        title: str,
        url: str,
        kind: ResourceKind,
    ) -> Resource:
        """Add a resource to a current topic; 422 when it holds its maximum already."""
        key = await self.topics.current_key(slug, topic_id)
        added = StoredResource(
            id=new_resource_id(), title=title, url=url, kind=kind, added_at=self.clock.now()
        )

        def append(stored: ResourcesDocument) -> None:
            if len(stored.resources) >= MAX_RESOURCES_PER_TOPIC:
                raise too_many()
            stored.resources.append(added)

        await self.edit_topic(account_id, key, append)
        return as_resource(key, added)

    async def delete(self, account_id: uuid.UUID, resource_id: str) -> None:
        """Delete one of the account's resources; `NotFound` if it has none by that id
        (whoever else's it may be)."""
        found = (
            await self.store.find(owner(account_id), RESOURCES, resource_id, limit=1)
            if _is_resource_id(resource_id)
            else []
        )
        if not found:
            raise NotFound("no such resource")

        def remove(stored: ResourcesDocument) -> None:
            if resource_id not in stored.ids():  # deleted meanwhile
                raise NotFound("no such resource")
            stored.resources = [r for r in stored.resources if r.id != resource_id]

        await self.edit_topic(account_id, found[0].key, remove)

    async def edit_topic(
        self, account_id: uuid.UUID, key: str, change: Callable[[ResourcesDocument], T]
    ) -> T:
        """Change a topic's resources in place with `change` and write them back on the
        revision read (deleting the document when none are left, writing nothing when it is
        as it was); when another change won meanwhile, read and change again.
        Returns what `change` returns; what it raises, nothing is written."""
        for _ in range(ATTEMPTS):
            current = await self.store.get(owner(account_id), RESOURCES, key)
            stored = (
                ResourcesDocument() if current is None else read(current.body, ResourcesDocument)
            )
            before = body_of(stored)
            outcome = change(stored)
            try:
                if body_of(stored) == before:
                    pass
                elif stored.resources:
                    await self.store.put(
                        owner(account_id),
                        RESOURCES,
                        key,
                        body_of(stored),
                        expected_revision=ABSENT if current is None else current.revision,
                        lookup_keys=stored.ids(),
                    )
                elif current is not None and not await self.store.delete(
                    owner(account_id), RESOURCES, key, expected_revision=current.revision
                ):
                    continue  # the whole list went meanwhile
            except RevisionConflict:
                continue  # another change of this topic's list won: change it again
            return outcome
        raise changed_meanwhile("topic's list of resources")
