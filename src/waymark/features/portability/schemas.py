"""The account's export document, and what an import of it reports.

One JSON document, versioned (`format`, `version`): what the account is (`profile`), where it
is signed in (`sessions`), what happened to it (`audit`), what it made: its logs of
progress, its notes and its own resources, and what it was told (`notifications`). An import
reads progress, notes and resources and ignores the rest (a profile and sessions belong to
the account they are imported into; notifications tell of teams and people of the site they
were made on, and link there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from waymark.features.accounts.schemas import AuditEvent, Me
from waymark.features.auth.schemas import SessionView
from waymark.features.notes.schemas import ExportedNote, ExportedResource, RestoreReport
from waymark.features.notifications.schemas import Notification
from waymark.features.progress.schemas import ExportedLog, ProgressRestoreReport

FORMAT = "waymark-export"
VERSION = 1
MAX_IMPORT_BYTES = 16 * 1024 * 1024
"""An import's body cap: about 100,000 changes of progress, or 250 notes at their largest."""


class ExportDocument(msgspec.Struct, kw_only=True):
    """`GET /api/v1/me/export`: everything the account owns."""

    format: Literal["waymark-export"]
    version: Literal[1]
    exported_at: datetime
    profile: Me
    sessions: list[SessionView]
    """The account's sessions and API token families when exported (their secrets never)."""
    audit: list[AuditEvent]
    """Authentication events still kept, newest first."""
    progress: list[ExportedLog]
    """One log of status changes per roadmap started, oldest change first."""
    notes: list[ExportedNote]
    resources: list[ExportedResource]
    notifications: list[Notification]
    """The account's notifications, newest first (not imported: they tell of this site's
    teams and people)."""


class ImportDocument(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /api/v1/me/import`: an export document (profile, sessions and audit are read
    past, not imported)."""

    format: Literal["waymark-export"]
    version: Literal[1]
    exported_at: datetime | None = None
    profile: Any = None
    sessions: Any = None
    audit: Any = None
    progress: list[ExportedLog] = []
    notes: list[ExportedNote] = []
    resources: list[ExportedResource] = []
    notifications: Any = None


class ImportReport(msgspec.Struct, kw_only=True):
    """What an import did. Importing the same document again adds nothing."""

    progress: ProgressRestoreReport
    notes: RestoreReport
