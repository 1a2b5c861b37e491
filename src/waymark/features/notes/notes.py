"""A learner's private note on a topic: read, write (create or replace), delete, each
optionally conditional on the version the learner last saw (HTTP `If-Match`)."""

from __future__ import annotations

import uuid

from waymark.features.notes.documents import ATTEMPTS, NOTES, NoteDocument, body_of, read
from waymark.features.notes.errors import PreconditionFailed, changed_meanwhile
from waymark.features.notes.schemas import Note, Precondition, SavedNote
from waymark.features.notes.topics import Topics, owner, split_key, topic_key, unknown_topic
from waymark.kernel.clock import Clock
from waymark.kernel.errors import NotFound
from waymark.kernel.ports import ABSENT, DocumentStore, RevisionConflict, StoredDocument


def saved_note(document: StoredDocument, *, created: bool = False) -> SavedNote:
    slug, topic_id = split_key(document.key)
    stored = read(document.body, NoteDocument)
    return SavedNote(
        note=Note(
            slug=slug,
            topic_id=topic_id,
            markdown=stored.markdown,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        ),
        revision=document.revision,
        created=created,
    )


class TopicNotes:
    def __init__(self, *, store: DocumentStore, topics: Topics, clock: Clock) -> None:
        self.store = store
        self.topics = topics
        self.clock = clock

    async def get(self, account_id: uuid.UUID, slug: str, topic_id: str) -> SavedNote:
        """The note, also on a topic since retired; `NotFound` if there is none."""
        document = await self.store.get(owner(account_id), NOTES, topic_key(slug, topic_id))
        if document is None:
            if not await self.topics.is_current(slug, topic_id):
                raise unknown_topic(slug, topic_id)
            raise NotFound("no note on this topic yet")
        return saved_note(document)

    async def write(
        self,
        account_id: uuid.UUID,
        slug: str,
        topic_id: str,
        markdown: str,
        *,
        precondition: Precondition | None = None,
    ) -> SavedNote:
        """Create or replace the note on a current topic (`created` says which). With a
        `precondition`, only over the version it names (`PreconditionFailed` otherwise)."""
        key = await self.topics.current_key(slug, topic_id)
        for _ in range(ATTEMPTS):
            current = await self.store.get(owner(account_id), NOTES, key)
            _check(precondition, current)
            now = self.clock.now()
            created_at = now if current is None else read(current.body, NoteDocument).created_at
            body = body_of(NoteDocument(markdown=markdown, created_at=created_at, updated_at=now))
            try:
                written = await self.store.put(
                    owner(account_id),
                    NOTES,
                    key,
                    body,
                    expected_revision=ABSENT if current is None else current.revision,
                )
            except RevisionConflict:
                continue  # written meanwhile: check the precondition against that version
            return saved_note(written, created=current is None)
        raise changed_meanwhile("note")

    async def delete(
        self,
        account_id: uuid.UUID,
        slug: str,
        topic_id: str,
        *,
        precondition: Precondition | None = None,
    ) -> None:
        """Delete the note, also on a retired topic (what a learner wrote stays theirs to
        remove); `NotFound` if there is none."""
        key = topic_key(slug, topic_id)
        for _ in range(ATTEMPTS):
            current = await self.store.get(owner(account_id), NOTES, key)
            if current is None:
                raise NotFound("no note on this topic")
            _check(precondition, current)
            try:
                deleted = await self.store.delete(
                    owner(account_id), NOTES, key, expected_revision=current.revision
                )
            except RevisionConflict:
                continue
            if not deleted:
                raise NotFound("no note on this topic")
            return
        raise changed_meanwhile("note")


def _check(precondition: Precondition | None, current: StoredDocument | None) -> None:
    if precondition is not None and not precondition.holds(current.revision if current else None):
        raise PreconditionFailed(
            "the note changed since you read it" if current else "there is no note to match"
        )
