"""What the progress limits share: the roadmap as the app keeps it in memory, the shapes of
the app's answers, and its rules for counts, next up and the view's ETag.

The answers are encoded from the app's own msgspec Structs (`progress/schemas.py`), and
counted by its own `rules.counts`: the same shape and numbers by construction, at no more
cost than a copy.

The app reads a roadmap's current content once per process and keeps it
(`RoadmapCatalog.current`, refreshed every `WAYMARK_ROADMAP_CACHE_SECONDS` in the
background), so the limits keep it too: the roadmap's public JSON, which the scenario read
from the app, and its row id, read once at startup. Next up is worked out here, with the
topics put in order once rather than on every request; tests/unit/bench holds it to the
app's `rules.next_up` on random statuses, and the harness compares the answers before
measuring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from bench.limits._signed_in import NOT_FOUND, UNAUTHORIZED, text
from waymark.features.progress.rules import counts
from waymark.features.progress.schemas import (
    RoadmapProgress,
    SectionProgress,
    Status,
    StatusChange,
)

__all__ = [
    "FINISHED",
    "Roadmap",
    "change_route",
    "counts",
    "etag",
    "render_view",
    "status_change",
    "tally",
]

FINISHED = frozenset({"done", "skipped"})
NEXT_UP = 3


def etag(last_seq: int, version: int, seen: int | None) -> str:
    return f'"p{last_seq}.v{version}.s{seen or 0}"'


class Roadmap:
    """A roadmap's current content, from its public JSON (`GET /api/v1/roadmaps/{slug}`)."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.slug: str = detail["slug"]
        self.title: str = detail["title"]
        self.version: int = detail["version"]
        self.sections: list[tuple[str, str, int]] = [
            (s["id"], s["title"], len(s["topics"])) for s in detail["sections"]
        ]
        topics = [(t, s["id"]) for s in detail["sections"] for t in s["topics"]]
        self.topic_ids: list[str] = [t["id"] for t, _ in topics]
        self.section_of: dict[str, str] = {t["id"]: section for t, section in topics}
        self.section_topics: dict[str, list[str]] = {
            s["id"]: [t["id"] for t in s["topics"]] for s in detail["sections"]
        }
        self.topic_sections: list[str] = [section for _, section in topics]
        # next up: roadmap order, core before extra
        self.ordered: list[str] = [t["id"] for t, _ in topics if t["kind"] == "core"] + [
            t["id"] for t, _ in topics if t["kind"] != "core"
        ]
        self.total = len(self.topic_ids)
        self.id: int | None = None
        """Its row id, read at startup (`find`)."""

    async def find(self, pool: Any) -> None:
        self.id = await pool.fetchval("SELECT id FROM roadmaps WHERE slug = $1", self.slug)
        if self.id is None:
            raise RuntimeError(f"no roadmap {self.slug!r} in the database")

    def section_tallies(self, statuses: Mapping[str, str]) -> dict[str, tuple[int, int, int]]:
        """Done, learning and skipped per section, counted from the statuses (as the app's
        view counts them, `rules.tally`)."""
        return {key: tally(statuses, topics) for key, topics in self.section_topics.items()}

    def next_up(self, statuses: dict[str, str]) -> list[str]:
        found = []
        for topic in self.ordered:
            if statuses.get(topic, "pending") not in FINISHED:
                found.append(topic)
                if len(found) == NEXT_UP:
                    break
        return found


_encode = msgspec.json.Encoder().encode


def tally(statuses: Mapping[str, str], topics: Sequence[str]) -> tuple[int, int, int]:
    """Done, learning and skipped among `topics`."""
    done = learning = skipped = 0
    for topic in topics:
        status = statuses.get(topic)
        if status == "done":
            done += 1
        elif status == "learning":
            learning += 1
        elif status == "skipped":
            skipped += 1
    return done, learning, skipped


def render_view(
    roadmap: Roadmap,
    row: Any,
    statuses: dict[str, Any],
    tallies: dict[str, tuple[int, int, int]],
) -> tuple[bytes, str] | None:
    """`GET me/progress/{slug}`'s body and ETag: from the learner's `roadmap_progress` row
    and version seen (`row`'s `last_seq`, `done`, `learning`, `skipped`, `started_at`,
    `last_activity_at`, `completed_at`, `seen_version`), their statuses and their sections'
    counts. None when the learner last saw another version (the app would list what changed
    since: the limits serve learners who saw the current one)."""
    seen = row["seen_version"]
    if seen is not None and seen != roadmap.version:
        return None
    status_of = statuses.get
    view = RoadmapProgress(
        slug=roadmap.slug,
        title=roadmap.title,
        version=roadmap.version,
        counts=counts(row["done"] or 0, row["learning"] or 0, row["skipped"] or 0, roadmap.total),
        sections=[
            SectionProgress(id=key, title=title, counts=counts(*tallies.get(key, (0, 0, 0)), size))
            for key, title, size in roadmap.sections
        ],
        statuses={topic: status_of(topic, "pending") for topic in roadmap.topic_ids},
        next_up=roadmap.next_up(statuses),
        changes_since_seen=None,
        started_at=row["started_at"],
        last_activity_at=row["last_activity_at"],
        completed_at=row["completed_at"],
    )
    return _encode(view), etag(row["last_seq"] or 0, roadmap.version, seen)


_decode_change = msgspec.json.Decoder(StatusChange).decode
BAD_BODY = text(400, b"bad body")


async def status_change(
    scope: Any, receive: Any, prefix: str, roadmap: Roadmap
) -> tuple[str, Status] | tuple[int, Any, bytes]:
    """`PUT <prefix><topic>` with `{"status": ...}`: the topic and its new status, or the
    refusal (404 for another path or an unknown topic, 400 for a bad body)."""
    path: str = scope["path"]
    topic = path.removeprefix(prefix)
    if topic == path or scope["method"] != "PUT" or topic not in roadmap.section_of:
        return NOT_FOUND
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    try:
        return topic, _decode_change(b"".join(chunks)).status
    except msgspec.DecodeError:
        return BAD_BODY


def change_route(limit: Any, roadmap: Roadmap, prefix: str, apply: Any) -> Any:
    """The route of a status change: the request checked as the app does (`status_change`),
    the caller (`limit.caller`, 401 without one), then `apply(user_id, iat, topic, status)`."""

    async def change(scope: Any, receive: Any) -> Any:
        asked = await status_change(scope, receive, prefix, roadmap)
        if len(asked) == 3:  # a refusal
            return asked
        caller = await limit.caller(scope)
        if caller is None:
            return UNAUTHORIZED
        user_id, claims = caller
        topic, status = asked
        return await apply(user_id, claims.iat, topic, status)

    return change
