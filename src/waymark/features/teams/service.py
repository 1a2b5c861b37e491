"""The teams feature, as the composition root builds it and the HTTP routes and pages use it.

Its use cases are grouped by what they are about, one module each, all with the same tools:

- `lifecycle` (`Lifecycle`): create, list mine, read, update, delete, transfer ownership;
- `members` (`Members`): list, change a role, remove, leave;
- `invites` (`Invites`): invite, list, resend, revoke; and for the invited address: read,
  accept, decline;
- `roadmaps` (`TeamRoadmaps`): assign, unassign, hide topics;
- `reports` (`Reports`): the team's progress on a roadmap, reminders;
- `asking` (`Asking`): for other features (webhooks), whether a caller may do an action in
  a team, the teams of a learner following a roadmap, and a team's admins' addresses;
- `watching` (`Watching`): for live updates, the teams following a learner's roadmap and
  whether a caller may watch a team's progress (`teams_of_learner`, `require_progress_view`).

Every entry point takes the caller's `Account` (as read for the request) first, reads the
caller's role in the team in its own transaction and asks `kernel.authz.require` before it
acts: 404 to whoever is not in the team (platform admins included), 403 `forbidden` to a
member whose role falls short.
"""

from __future__ import annotations

from waymark.features.accounts.profile import Profiles
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.teams.asking import Asking
from waymark.features.teams.invites import Invites
from waymark.features.teams.jobs import TeamJobs
from waymark.features.teams.lifecycle import Lifecycle
from waymark.features.teams.members import Members
from waymark.features.teams.reports import Reports
from waymark.features.teams.roadmaps import TeamRoadmaps
from waymark.features.teams.use_cases import TeamUseCases
from waymark.features.teams.watching import Watching
from waymark.infra.outbox import HandlerRegistry, Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.throttle import Throttle


class Teams:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        throttle: Throttle,
        outbox: Outbox,
        catalog: RoadmapCatalog,
        progress: ProgressService,
        profiles: Profiles,
        public_url: str,
    ) -> None:
        tools = TeamUseCases(
            db=db,
            clock=clock,
            throttle=throttle,
            outbox=outbox,
            catalog=catalog,
            progress=progress,
            profiles=profiles,
            public_url=public_url,
        )
        self.clock = clock
        self.lifecycle = Lifecycle.sharing(tools)
        self.members = Members.sharing(tools)
        self.invites = Invites.sharing(tools)
        self.roadmaps = TeamRoadmaps.sharing(tools)
        self.reports = Reports.sharing(tools)
        self.watching = Watching.sharing(tools)
        self.asking = Asking.sharing(tools)
        self.teams_of_learner = self.watching.teams_of_learner
        self.require_progress_view = self.watching.require_progress_view

    def register_jobs(self, handlers: HandlerRegistry) -> None:
        TeamJobs(self.lifecycle).register(handlers)
