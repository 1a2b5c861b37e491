"""The webhooks feature, as the composition root builds it and the HTTP routes and pages use
it: `endpoints` (a team's endpoints and their log, for its admins) and `delivering` (the
fan-out of events and the signed deliveries; docs/webhooks.md)."""

from __future__ import annotations

from datetime import timedelta

from waymark.features.teams.service import Teams
from waymark.features.webhooks.delivering import Delivering
from waymark.features.webhooks.endpoints import Endpoints
from waymark.features.webhooks.jobs import WebhookJobs
from waymark.features.webhooks.use_cases import WebhookTools
from waymark.infra.fetch import Fetcher
from waymark.infra.outbox import HandlerRegistry, Outbox
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.throttle import Throttle


class Webhooks:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        throttle: Throttle,
        outbox: Outbox,
        teams: Teams,
        fetcher: Fetcher,
        public_url: str,
        disable_after: int,
        retention: timedelta,
        box: SecretBox,
    ) -> None:
        tools = WebhookTools(
            db=db,
            clock=clock,
            throttle=throttle,
            outbox=outbox,
            teams=teams,
            fetcher=fetcher,
            public_url=public_url,
            disable_after=disable_after,
            retention=retention,
            box=box,
        )
        self.clock = clock
        self.teams = teams
        self.endpoints = Endpoints.sharing(tools)
        self.delivering = Delivering.sharing(tools)

    def register_jobs(self, handlers: HandlerRegistry) -> None:
        WebhookJobs(self.delivering, self.teams).register(handlers)
