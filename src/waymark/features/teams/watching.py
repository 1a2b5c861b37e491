"""What others may ask of teams to show a team's progress as it happens (the live feature):
which teams follow a learner's roadmap, and whether a caller may watch a team's progress.

The check is the one every team read makes (`Standing`, read now): 404 to whoever is not in
the team, 403 to a member whose role falls short of `team.progress.read`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from waymark.features.teams.repository import TeamRepository
from waymark.features.teams.use_cases import TeamUseCases, standing
from waymark.kernel.authz import Action
from waymark.kernel.identity import Account


@dataclass(kw_only=True, eq=False)
class Watching(TeamUseCases):
    async def teams_of_learner(self, account_id: uuid.UUID, roadmap_slug: str) -> list[uuid.UUID]:
        """The teams `account_id` is a member of that follow the roadmap `roadmap_slug`."""
        async with self.db.read() as conn:
            return await TeamRepository(conn).following(account_id, roadmap_slug)

    async def require_progress_view(self, account: Account, team_id: uuid.UUID) -> None:
        """Return if the caller may see the team's progress now; else 404 or 403."""
        async with self.db.read() as conn:
            caller = await standing(conn, account, team_id)
        caller.require(Action.PROGRESS_READ)
