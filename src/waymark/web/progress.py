"""Where the pages get a learner's progress from. The web app only draws it; the progress
feature computes it and plugs in here (`web_site(progress=...)`): until then every topic is
pending and no roadmap shows a summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from waymark.features.roadmaps.schemas import CurrentRoadmap
from waymark.kernel.identity import Account


class LearnerProgress(Protocol):
    async def statuses(self, account: Account, roadmap: CurrentRoadmap) -> Mapping[str, str]:
        """Each topic's status for this learner, by topic id (`pending`, `learning`, `done`,
        `skipped`); topics left out are pending."""
        ...

    async def summaries(self, account: Account, slugs: Sequence[str]) -> Mapping[str, Any]:
        """What the home page shows under each roadmap (e.g. "12 of 45 done, next up: ..."),
        by slug; `templates/home/_roadmap_progress.html` draws it."""
        ...


class NoProgressYet:
    """Until the progress feature plugs in: nothing done, nothing to summarise."""

    async def statuses(self, account: Account, roadmap: CurrentRoadmap) -> Mapping[str, str]:
        return {}

    async def summaries(self, account: Account, slugs: Sequence[str]) -> Mapping[str, Any]:
        return {}
