"""Notes and learners' own resources: request and response bodies, the versioned export, and
the checks their text gets. Requests forbid unknown fields (no mass assignment)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from waymark.features.roadmaps.schemas import Slug, TopicId
from waymark.kernel.errors import FieldError, ValidationFailed

MAX_NOTE_BYTES = 64 * 1024
"""A note is at most this many bytes of UTF-8."""
MAX_RESOURCES_PER_TOPIC = 50
MAX_TITLE_LENGTH = 200
MAX_URL_LENGTH = 2048

ResourceKind = Literal["article", "video", "course", "book", "other"]

# Control characters (C0, DEL, C1): none in titles; none but tab, LF and CR in notes.
# PostgreSQL cannot store NUL, and the rest have no business in text a person wrote. Checked
# in code rather than by a schema pattern, for an error that says so in words.
_CONTROL_IN_TITLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_MARKDOWN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"

Markdown = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_NOTE_BYTES,
        description=f"Markdown, at most {MAX_NOTE_BYTES // 1024} KiB of UTF-8; no control "
        "characters but tab, line feed and carriage return.",
    ),
]
Title = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TITLE_LENGTH,
        description=f"1 to {MAX_TITLE_LENGTH} characters, not only spaces; no control characters.",
    ),
]
Url = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=f"An `http` or `https` URL with a host, at most {MAX_URL_LENGTH} "
        "characters, no spaces or control characters. Stored as given; never fetched.",
        examples=["https://www.postgresql.org/docs/current/tutorial.html"],
    ),
]
ResourceId = Annotated[
    str,
    msgspec.Meta(pattern=RESOURCE_ID_PATTERN, description="Opaque: compare it, never parse it."),
]


def markdown_problem(markdown: str) -> str | None:
    """What is wrong with a note's text beyond its length in characters."""
    if _CONTROL_IN_MARKDOWN.search(markdown):
        return "no control characters but tab, line feed and carriage return"
    try:
        size = len(markdown.encode())
    except UnicodeEncodeError:  # a lone surrogate; JSON decoding never makes one
        return "not valid Unicode"
    if size > MAX_NOTE_BYTES:
        return f"at most {MAX_NOTE_BYTES} bytes of UTF-8, not {size}"
    return None


def title_problem(title: str) -> str | None:
    if _CONTROL_IN_TITLE.search(title):
        return "no control characters"
    return "must not be blank" if not title.strip() else None


def url_problem(url: str) -> str | None:
    """Why `url` is no link a learner may keep: only http(s) with a host, nothing that
    renders invisibly or splits it (spaces, control and format characters)."""
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in url):
        return "no spaces, control or invisible characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is no number or out of range)
    except ValueError:
        return "not a URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "only http and https URLs"
    if not parts.hostname:
        return "a URL with a host, like https://example.org/"
    return None


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body. A check past the schema fails with 422 `validation-failed` naming
    the field."""

    def _refuse(self, *problems: tuple[str, str | None]) -> None:
        errors = [FieldError(field, message) for field, message in problems if message]
        if errors:
            raise ValidationFailed(errors)


class NoteWrite(Body):
    markdown: Markdown

    def __post_init__(self) -> None:
        self._refuse(("markdown", markdown_problem(self.markdown)))


class ResourceCreate(Body):
    title: Title
    url: Url
    kind: ResourceKind = "other"

    def __post_init__(self) -> None:
        self._refuse(("title", title_problem(self.title)), ("url", url_problem(self.url)))


class Note(msgspec.Struct, kw_only=True):
    slug: str
    topic_id: str
    markdown: str
    created_at: datetime
    updated_at: datetime


class Resource(msgspec.Struct, kw_only=True):
    id: str
    slug: str
    topic_id: str
    title: str
    url: str
    kind: ResourceKind
    added_at: datetime
    dead: bool = False
    """The daily link check found nothing at `url` (no answer, 404, 410, a server error)."""
    checked_at: datetime | None = None
    """When the link was last checked (None: not yet)."""


class Precondition(msgspec.Struct, frozen=True, kw_only=True):
    """What a conditional change expects of the current note (HTTP `If-Match`): that it
    exists (`any_revision`), or is at one of `revisions`."""

    revisions: frozenset[str] = frozenset()
    any_revision: bool = False

    def holds(self, revision: str | None) -> bool:
        return revision is not None and (self.any_revision or revision in self.revisions)


class SavedNote(msgspec.Struct, frozen=True, kw_only=True):
    note: Note
    revision: str
    """The note's version: its ETag, as a client sends it back in `If-Match`."""
    created: bool = False


class RoadmapNotes(msgspec.Struct, frozen=True, kw_only=True):
    """An account's notes and resources on one roadmap, by topic id."""

    notes: dict[str, SavedNote]
    resources: dict[str, list[Resource]]


# -- Export and restore ------------------------------------------------------------------


def _checked(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)  # msgspec reports it with the path: `$.notes[3]`


class ExportedNote(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    slug: Slug
    topic_id: TopicId
    markdown: Markdown
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        _checked(markdown_problem(self.markdown))


class ExportedResource(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: ResourceId
    slug: Slug
    topic_id: TopicId
    title: Title
    url: Url
    kind: ResourceKind
    added_at: datetime

    def __post_init__(self) -> None:
        _checked(title_problem(self.title) or url_problem(self.url))


class NotesExport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every note and resource of an account (`Notes.export`), as `Notes.restore` takes it
    back. Version 1; a change of shape is a new version."""

    version: Literal[1] = 1
    notes: list[ExportedNote] = []
    """In the order of their topics' keys, `slug/topic_id`."""
    resources: list[ExportedResource] = []
    """By topic as the notes, each topic's in the order they were added."""


class RestoreReport(msgspec.Struct, kw_only=True):
    """What `Notes.restore` did. Topics are `slug/topic_id`."""

    notes_added: int = 0
    notes_unchanged: int = 0
    """Already there, word for word."""
    notes_kept: list[str] = []
    """Topics that had a different note: it was kept, never overwritten."""
    resources_added: int = 0
    resources_unchanged: int = 0
    """Already there (same id)."""
    resources_over_limit: list[str] = []
    """Ids not added: their topic held its maximum of resources."""
    unknown_topics: list[str] = []
    """Topics no current roadmap has: nothing was restored there."""
