"""Request and response bodies of learning progress."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from waymark.features.roadmaps.schemas import Slug, TopicId
from waymark.kernel.errors import FieldError, ValidationFailed

Status = Literal["pending", "learning", "done", "skipped"]
"""A topic's status for one learner. Percentages count done and skipped as finished."""
STATUSES: tuple[Status, ...] = ("pending", "learning", "done", "skipped")
FINISHED: frozenset[str] = frozenset({"done", "skipped"})
MAX_BATCH = 100


class StatusChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`PUT me/progress/{slug}/topics/{topic_id}`: the topic's new status."""

    status: Status


class BatchItem(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    topic_id: Annotated[str, msgspec.Meta(min_length=3, max_length=129)]
    status: Status


class BatchChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST me/progress/{slug}/batch`: several topics in one transaction, all or nothing."""

    changes: Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for index, change in enumerate(self.changes):
            if change.topic_id in seen:
                raise ValidationFailed(
                    [FieldError(f"changes[{index}].topic_id", "the same topic twice in one batch")]
                )
            seen.add(change.topic_id)


class Counts(msgspec.Struct, kw_only=True):
    done: int
    learning: int
    skipped: int
    pending: int
    total: int
    """Topics of the roadmap's current version (retired ones never count)."""
    percentage: float
    """(done + skipped) / total, in percent, one decimal."""


class SectionProgress(msgspec.Struct, kw_only=True):
    id: str
    title: str
    counts: Counts


class Changes(msgspec.Struct, kw_only=True):
    """What changed in the roadmap since the version the learner last saw."""

    since_version: int
    added: list[str]
    changed: list[str]
    removed: list[str]


class RoadmapProgress(msgspec.Struct, kw_only=True):
    """`GET me/progress/{slug}`."""

    slug: str
    title: str
    version: int
    counts: Counts
    sections: list[SectionProgress]
    statuses: dict[str, Status]
    """Every current topic's status, by topic id."""
    next_up: list[str]
    """The first topics neither done nor skipped, in roadmap order, core before extra."""
    changes_since_seen: Changes | None
    """None until the learner has marked a version seen (`POST .../seen`), or when nothing
    changed since."""
    started_at: datetime | None
    last_activity_at: datetime | None
    completed_at: datetime | None


class RoadmapProgressSummary(msgspec.Struct, kw_only=True):
    """One roadmap of `GET me/progress`."""

    slug: str
    title: str
    counts: Counts
    started_at: datetime
    last_activity_at: datetime
    completed_at: datetime | None


class TopicStatusResult(msgspec.Struct, kw_only=True):
    """What a status change answers: the topic's status now and the roadmap's counts."""

    topic_id: str
    status: Status
    changed: bool
    """False when the topic already had this status (nothing was written)."""
    counts: Counts


class HistoryEntry(msgspec.Struct, kw_only=True):
    seq: int
    topic_id: str
    from_status: Status
    to_status: Status
    at: datetime
    roadmap_version: int


class Streak(msgspec.Struct, kw_only=True):
    """Runs of days with at least one status change, in the account's time zone."""

    current: int
    """Days in a row up to today, or up to yesterday when today has none yet."""
    longest: int
    active_today: bool
    last_active_day: date | None
    time_zone: str


# -- a group of learners (a team) ---------------------------------------------------------------


class LearnerCounts(msgspec.Struct, kw_only=True):
    """One learner of a group on one roadmap (`ProgressService.of_members`)."""

    account_id: uuid.UUID
    counts: Counts
    """Among the roadmap's current topics the group does not hide."""
    last_activity_at: datetime | None
    """The learner's last change to the roadmap (any topic); None if they never changed one."""


class TopicTally(msgspec.Struct, kw_only=True):
    """How many learners of a group have one topic done, learning, skipped or pending."""

    topic_id: str
    done: int
    learning: int
    skipped: int
    pending: int


class GroupProgress(msgspec.Struct, kw_only=True):
    """Several learners' progress on one roadmap, per learner and per topic, with the
    topics the group hides left out of everything."""

    slug: str
    title: str
    version: int
    topic_ids: list[str]
    """The topics counted: the roadmap's current ones but the hidden, in roadmap order."""
    learners: list[LearnerCounts]
    """In the order the learners were asked for."""
    topics: list[TopicTally]
    """In `topic_ids` order."""
    overall: Counts
    """Everyone's counts added up (`total` is topics times learners)."""
    last_activity_at: datetime | None


# -- export and restore ------------------------------------------------------------------------

Version = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
MAX_EXPORTED_EVENTS = 200_000
"""Events of one roadmap's log an import takes (the import's body cap bounds them first)."""


class ExportedEvent(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One change of a learner's log, as exported: the history entry, field for field."""

    seq: Version
    topic_id: TopicId
    from_status: Status
    to_status: Status
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    roadmap_version: Version


class ExportedLog(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A learner's log of one roadmap (retired topics' changes included), and the version
    they last marked seen."""

    roadmap: Slug
    seen_version: Version | None = None
    events: Annotated[list[ExportedEvent], msgspec.Meta(max_length=MAX_EXPORTED_EVENTS)] = []


class ProgressRestoreReport(msgspec.Struct, kw_only=True):
    """What restoring exported logs did."""

    events_added: int = 0
    events_unchanged: int = 0
    """Changes the account's log already held."""
    topics_kept: list[str] = []
    """`slug/topic_id` whose history here differs from the export's: kept as it is."""
    unknown_topics: list[str] = []
    """`slug/topic_id` no version of the roadmap here has: not restored."""
    unknown_roadmaps: list[str] = []
