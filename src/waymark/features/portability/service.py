"""The account's data, exported as one document and imported back.

The export streams: its first part (profile, sessions, the list of logs) is read before the
answer starts, so a database that is down is a 503 like anywhere else; then each log of
progress goes out a page at a time, each page a short read of its own, and the notes,
resources and notifications after them. A failure past the first part cuts the answer short
(the client sees JSON that does not parse, never a document that looks whole).

An import restores progress first (its whole input checked before anything is written), then
notes and resources; each part is idempotent, so an import cut short is finished by running
it again. Its document arrives as bytes (the API's body, a file uploaded from the settings
page) and is decoded off the event loop: up to 16 MiB of JSON is a third of a second of
parsing, so one is read at a time per process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from waymark.features.accounts.schemas import AuditEvent, Me
from waymark.features.accounts.service import Accounts
from waymark.features.auth.service import AuthService
from waymark.features.notes.schemas import NotesExport
from waymark.features.notes.service import Notes
from waymark.features.notifications.service import Notifications
from waymark.features.portability.limits import EXPORT_ACCOUNT, IMPORT_ACCOUNT
from waymark.features.portability.schemas import (
    FORMAT,
    MAX_IMPORT_BYTES,
    VERSION,
    ImportDocument,
    ImportReport,
)
from waymark.features.progress.archive import LogHead
from waymark.features.progress.service import ProgressService
from waymark.kernel import decoding
from waymark.kernel.clock import Clock
from waymark.kernel.errors import PayloadTooLarge
from waymark.kernel.identity import Account, Principal
from waymark.kernel.throttle import Throttle
from waymark.transport.http.offload import OffLoop

AUDIT_PAGE = 500
PARSE_WAIT_SECONDS = 10.0

_encode = msgspec.json.Encoder().encode


class Export:
    """An export about to stream: what was read before the answer starts."""

    def __init__(self, head: bytes, logs: list[LogHead], rest: Portability, account: Account):
        self._head = head
        self._logs = logs
        self._rest = rest
        self._account = account

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self._head
        archive = self._rest.progress.archive
        for number, log in enumerate(self._logs):
            header = {"roadmap": log.slug, "seen_version": log.seen_version}
            yield (b"," if number else b"") + _encode(header)[:-1] + b',"events":['
            first = True
            async for page in archive.events(self._account.id, log):
                yield (b"" if first else b",") + _encode(page)[1:-1]
                first = False
            yield b"]}"
        notes = await self._rest.notes.export(self._account.id)
        yield b'],"notes":' + _encode(notes.notes)
        yield b',"resources":' + _encode(notes.resources)
        told = await self._rest.notifications.export(self._account.id)
        yield b',"notifications":' + _encode(told) + b"}"


class Portability:
    def __init__(
        self,
        *,
        accounts: Accounts,
        auth: AuthService,
        progress: ProgressService,
        notes: Notes,
        notifications: Notifications,
        clock: Clock,
        throttle: Throttle,
    ) -> None:
        self.accounts = accounts
        self.auth = auth
        self.progress = progress
        self.notes = notes
        self.notifications = notifications
        self.clock = clock
        self.throttle = throttle
        self.parser = OffLoop(
            slots=1, wait_seconds=PARSE_WAIT_SECONDS, busy="other imports are being read; try again"
        )

    async def export(self, principal: Principal, account: Account) -> Export:
        """Start an export (at most `EXPORT_ACCOUNT` an hour): the document's first part is
        read now; `Export.chunks` streams the whole document (the shape of `ExportDocument`)."""
        await self.throttle.check((EXPORT_ACCOUNT, str(account.id)))
        sessions = await self.auth.list_sessions(principal)
        audit = await self._audit(account)
        logs = await self.progress.archive.heads(account.id)
        head = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": self.clock.now(),
            "profile": Me.of(account),
            "sessions": sessions,
            "audit": audit,
        }
        return Export(_encode(head)[:-1] + b',"progress":[', logs, self, account)

    async def import_document(self, account: Account, body: bytes) -> ImportReport:
        """Import an export document from its bytes, as the API's body or an uploaded file
        brings them: at most `IMPORT_ACCOUNT` an hour, decoded off the event loop (400 when
        it is no JSON, 422 naming the field when it is no export), then restored."""
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"an export document is at most {MAX_IMPORT_BYTES} bytes")
        await self.throttle.check((IMPORT_ACCOUNT, str(account.id)))
        document = await self.parser.run(decoding.decode, body, "json", ImportDocument)
        return await self.restore(account, document)

    async def restore(self, account: Account, document: ImportDocument) -> ImportReport:
        """Bring an export's progress, notes and resources into the account, adding what
        it lacks and never overwriting what it has."""
        progress = await self.progress.archive.restore(account, document.progress)
        notes = await self.notes.restore(
            account.id, NotesExport(notes=document.notes, resources=document.resources)
        )
        return ImportReport(progress=progress, notes=notes)

    async def _audit(self, account: Account) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        while True:
            before = events[-1].id if events else None
            page = await self.accounts.audit.page(account.id, before=before, limit=AUDIT_PAGE)
            events += page
            if len(page) < AUDIT_PAGE:
                return events
