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

from typing import Any

import msgspec

from bench.limits._signed_in import NOT_FOUND, UNAUTHORIZED, text
from waymark.features.progress.rules import counts
from waymark.features.progress.schemas import Status, StatusChange

__all__ = ["FINISHED", "Roadmap", "change_route", "counts", "etag", "status_change"]

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

    def next_up(self, statuses: dict[str, str]) -> list[str]:
        found = []
        for topic in self.ordered:
            if statuses.get(topic, "pending") not in FINISHED:
                found.append(topic)
                if len(found) == NEXT_UP:
                    break
        return found


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
