"""The progress feature's outbox handlers: recounting after a roadmap changes.

When a new version of a roadmap is published, topics may have been added, moved or
retired, and the counts of everyone following it must count the current topics only.
At least once and idempotent: a recount computes the same counts however often it runs.
"""

from __future__ import annotations

import msgspec

from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.messages import ROADMAP_PUBLISHED, RoadmapPublished
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure


class ProgressJobs:
    def __init__(self, progress: ProgressService) -> None:
        self.progress = progress

    async def recount(self, message: OutboxMessage) -> None:
        try:
            event = message.decode(RoadmapPublished)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
        await self.progress.projections.recount(event.roadmap_id)

    def register(self, handlers: HandlerRegistry) -> None:
        handlers.subscribe(ROADMAP_PUBLISHED, "progress.recount", self.recount)
