"""What is published on the live channels, from the outbox: after commit only, never for
work that rolled back.

A learner's progress events go to `user:{account_id}` and to `team:{id}` of every team the
learner is a member of that follows that roadmap (asked of teams' public service). A change
of a team's membership goes to `team:{id}` as a control event: each open stream of the
member concerned checks its access again there (`LiveStream`).

The handlers run at least once (they talk to Redis): each publish is idempotent on the
message's id, so a retry never delivers an event twice.
"""

from __future__ import annotations

import uuid

import msgspec
import structlog

from waymark.features.live.channels import team_channel, user_channel
from waymark.features.progress.messages import (
    PROGRESS_RESTORED,
    ROADMAP_COMPLETED,
    TOPIC_STATUS_CHANGED,
)
from waymark.features.teams.messages import MEMBERSHIP_CHANGED, MembershipChanged
from waymark.features.teams.service import Teams
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.kernel.ports import LiveChannels

log = structlog.get_logger(__name__)

PROGRESS_EVENTS = (TOPIC_STATUS_CHANGED, ROADMAP_COMPLETED, PROGRESS_RESTORED)


class _Learner(msgspec.Struct, frozen=True):
    """What every progress event says of whose progress it is (the rest is passed on)."""

    account_id: uuid.UUID
    roadmap: str


class LiveJobs:
    def __init__(self, channels: LiveChannels, teams: Teams) -> None:
        self.channels = channels
        self.teams = teams

    async def progress(self, message: OutboxMessage) -> None:
        event = message.kind.partition(">")[0]
        try:
            learner = message.decode(_Learner)
            data = msgspec.json.decode(message.payload)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
        channels = [user_channel(learner.account_id)]
        teams = await self.teams.teams_of_learner(learner.account_id, learner.roadmap)
        channels += [team_channel(team) for team in teams]
        for channel in channels:
            await self.channels.publish(channel, event, data, dedupe_key=message.id)
        log.debug("live_published", event=event, channels=len(channels))

    async def team_access(self, message: OutboxMessage) -> None:
        try:
            event = message.decode(MembershipChanged)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
        await self.channels.publish(
            team_channel(event.team_id),
            MEMBERSHIP_CHANGED,
            msgspec.to_builtins(event),
            dedupe_key=message.id,
        )

    def register(self, handlers: HandlerRegistry) -> None:
        for event in PROGRESS_EVENTS:
            handlers.subscribe(event, "live.progress", self.progress)
        handlers.subscribe(MEMBERSHIP_CHANGED, "live.team-access", self.team_access)
