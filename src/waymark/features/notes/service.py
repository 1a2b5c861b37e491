"""The notes feature, as the composition root builds it and other features use it: a
learner's private notes (`notes`) and own resources (`resources`) per topic, kept in the
document store; their export and restore (for the account's export and import); and their
erasure when the account is deleted.

Every change writes one document (conditionally, on the revision it read), so no error
leaves anything half-written, and the store may be another database than the relational
one: nothing here runs in a transaction of the edge.
"""

from __future__ import annotations

import uuid

import msgspec

from waymark.features.notes.documents import (
    ATTEMPTS,
    NOTES,
    RESOURCES,
    NoteDocument,
    ResourcesDocument,
    StoredResource,
    body_of,
    read,
)
from waymark.features.notes.errors import changed_meanwhile
from waymark.features.notes.jobs import NotesJobs
from waymark.features.notes.links import AccountIds, LinkChecker, LinkFetcher
from waymark.features.notes.notes import TopicNotes, saved_note
from waymark.features.notes.resources import OwnResources, resources_of
from waymark.features.notes.schemas import (
    MAX_RESOURCES_PER_TOPIC,
    ExportedNote,
    ExportedResource,
    NotesExport,
    RestoreReport,
    RoadmapNotes,
)
from waymark.features.notes.topics import Topics, owner, roadmap_prefix, split_key, topic_key
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.infra.outbox import HandlerRegistry
from waymark.infra.scheduler import ScheduledJobs
from waymark.kernel.clock import Clock
from waymark.kernel.decoding import field_error
from waymark.kernel.errors import ValidationFailed
from waymark.kernel.ports import ABSENT, DocumentStore, RevisionConflict, StoredDocument

PAGE = 100


class Notes:
    def __init__(self, *, store: DocumentStore, catalog: RoadmapCatalog, clock: Clock) -> None:
        self.store = store
        self.topics = Topics(catalog)
        self.notes = TopicNotes(store=store, topics=self.topics, clock=clock)
        self.resources = OwnResources(store=store, topics=self.topics, clock=clock)

    async def on_roadmap(self, account_id: uuid.UUID, slug: str) -> RoadmapNotes:
        """The account's notes and resources on one roadmap, by topic id (topics since
        retired included): what a roadmap's page shows beside each topic."""
        prefix = roadmap_prefix(slug)
        notes = [saved_note(document) for document in await self._all(account_id, NOTES, prefix)]
        return RoadmapNotes(
            notes={saved.note.topic_id: saved for saved in notes},
            resources={
                split_key(document.key)[1]: resources_of(document)
                for document in await self._all(account_id, RESOURCES, prefix)
            },
        )

    async def export(self, account_id: uuid.UUID) -> NotesExport:
        """Every note and resource of the account, retired topics' too."""
        # The API's shapes, field for field, with the constraints a restore checks.
        notes = [
            ExportedNote(**msgspec.structs.asdict(saved_note(document).note))
            for document in await self._all(account_id, NOTES)
        ]
        # A link check's result is not exported: the importing side checks again.
        checked = {"dead", "checked_at"}
        resources = [
            ExportedResource(
                **{k: v for k, v in msgspec.structs.asdict(resource).items() if k not in checked}
            )
            for document in await self._all(account_id, RESOURCES)
            for resource in resources_of(document)
        ]
        return NotesExport(notes=notes, resources=resources)

    async def restore(self, account_id: uuid.UUID, exported: NotesExport) -> RestoreReport:
        """Bring back what an export holds, without changing what is there: a note goes to
        a topic that has none, a resource to its topic unless the account has one by its id
        already (or the topic is full). Topics no roadmap has now are reported, not
        restored. So restoring the same export twice changes nothing the second time.

        The whole export is checked first (422 naming the path, writing nothing); each
        topic is then one write, so a restore cut short is finished by running it again.
        """
        exported = _checked(exported)
        report = RestoreReport()
        unknown: set[str] = set()
        for note in exported.notes:
            await self._restore_note(account_id, note, report, unknown)
        held = {
            resource_id
            for document in await self._all(account_id, RESOURCES)
            for resource_id in document.lookup_keys
        }
        by_topic: dict[str, list[ExportedResource]] = {}
        for resource in exported.resources:
            by_topic.setdefault(topic_key(resource.slug, resource.topic_id), []).append(resource)
        for key, group in by_topic.items():
            await self._restore_resources(account_id, key, group, held, report, unknown)
        report.unknown_topics = sorted(unknown)
        return report

    async def erase(self, account_id: uuid.UUID) -> int:
        """Delete every note and resource of the account (it was deleted); how many
        documents went. Repeating it changes nothing."""
        return await self.store.delete_owner(owner(account_id))

    def register_jobs(self, handlers: HandlerRegistry) -> None:
        NotesJobs(erase=self.erase).register(handlers)

    def register_schedules(
        self, schedules: ScheduledJobs, *, fetcher: LinkFetcher | None, accounts: AccountIds
    ) -> LinkChecker | None:
        """The daily link checker, when there is an SSRF-safe fetcher to check with."""
        if fetcher is None:
            return None
        checker = LinkChecker(
            store=self.store, resources=self.resources, fetcher=fetcher, accounts=accounts
        )
        checker.register(schedules)
        return checker

    async def _all(
        self, account_id: uuid.UUID, collection: str, prefix: str = ""
    ) -> list[StoredDocument]:
        found: list[StoredDocument] = []
        while True:
            after = found[-1].key if found else None
            page = await self.store.scan(
                owner(account_id), collection, prefix=prefix, after=after, limit=PAGE
            )
            found += page
            if len(page) < PAGE:
                return found

    async def _restore_note(
        self, account_id: uuid.UUID, note: ExportedNote, report: RestoreReport, unknown: set[str]
    ) -> None:
        key = topic_key(note.slug, note.topic_id)
        body = body_of(
            NoteDocument(
                markdown=note.markdown, created_at=note.created_at, updated_at=note.updated_at
            )
        )
        for _ in range(ATTEMPTS):
            current = await self.store.get(owner(account_id), NOTES, key)
            if current is not None:
                if read(current.body, NoteDocument).markdown == note.markdown:
                    report.notes_unchanged += 1
                else:
                    report.notes_kept.append(key)
                return
            if not await self.topics.is_current(note.slug, note.topic_id):
                unknown.add(key)
                return
            try:
                await self.store.put(owner(account_id), NOTES, key, body, expected_revision=ABSENT)
            except RevisionConflict:
                continue  # written meanwhile: compare with it
            report.notes_added += 1
            return
        raise changed_meanwhile("note")

    async def _restore_resources(
        self,
        account_id: uuid.UUID,
        key: str,
        group: list[ExportedResource],
        held: set[str],
        report: RestoreReport,
        unknown: set[str],
    ) -> None:
        """One topic's resources: those the account has no resource by the id of."""
        fresh = list({r.id: r for r in group if r.id not in held}.values())
        report.resources_unchanged += len(group) - len(fresh)
        if not fresh:
            return
        if not await self.topics.is_current(*split_key(key)):
            unknown.add(key)
            return

        def merge(stored: ResourcesDocument) -> tuple[list[str], list[str]]:
            """The ids added and those the topic had no room for."""
            present = set(stored.ids())  # a restore running at the same time may have won
            missing = [r for r in fresh if r.id not in present]
            room = max(MAX_RESOURCES_PER_TOPIC - len(stored.resources), 0)
            stored.resources += [_stored_resource(r) for r in missing[:room]]
            return [r.id for r in missing[:room]], [r.id for r in missing[room:]]

        added, over = await self.resources.edit_topic(account_id, key, merge)
        report.resources_added += len(added)
        report.resources_unchanged += len(fresh) - len(added) - len(over)
        report.resources_over_limit += over
        held.update(added)


def _checked(exported: NotesExport) -> NotesExport:
    """The export as its schema has it, whoever built it (decoded from a file, or made in
    code, where msgspec checks no constraints)."""
    try:
        return msgspec.convert(msgspec.to_builtins(exported), NotesExport)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None


def _stored_resource(exported: ExportedResource) -> StoredResource:
    return StoredResource(
        id=exported.id,
        title=exported.title,
        url=exported.url,
        kind=exported.kind,
        added_at=exported.added_at,
    )
