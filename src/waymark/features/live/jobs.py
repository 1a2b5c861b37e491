"""What is published on the live channels, from the outbox: after commit only, never for
work that rolled back.

A learner's progress events go to `user:{account_id}` and to `team:{id}` of every team the
learner is a member of that follows that roadmap (asked of teams' public service). A change
of a team's membership goes to `team:{id}` as a control event: each open stream of the
member concerned checks its access again there (`LiveStream`).

The handlers run at least once (they talk to Redis): each publish is idempotent on its
dedupe key, so a retry never delivers an event twice.

Order: the relay runs a batch's handlers at once, and two processes' relays run theirs side
by side, so messages are handled in no particular order. A learner's changes to a roadmap
are numbered (`seq`), so their key is `{account}/{roadmap}/{seq}` and a change is published
once the one before it is (`LiveChannels.published`): it waits for it up to `ORDER_WAIT`
seconds (the one before is in the same batch, or another relay's), then goes anyway (the one
before is being retried). A restore's predecessor is the change before the restored ones.
Team channels are published before the learner's own, so "published on the learner's
channel" means "on every channel".
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, TypeVar

import msgspec
import structlog

from waymark.features.live.channels import team_channel, user_channel
from waymark.features.notifications.messages import NOTIFICATION_CREATED, NOTIFICATIONS_READ
from waymark.features.progress.messages import (
    PROGRESS_RESTORED,
    ROADMAP_COMPLETED,
    TOPIC_STATUS_CHANGED,
)
from waymark.features.teams.messages import MEMBERSHIP_CHANGED, MembershipChanged
from waymark.features.teams.service import Teams
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.kernel.live import LiveChannels

log = structlog.get_logger(__name__)
T = TypeVar("T")

PROGRESS_EVENTS = (TOPIC_STATUS_CHANGED, ROADMAP_COMPLETED, PROGRESS_RESTORED)
NOTIFICATION_EVENTS = (NOTIFICATION_CREATED, NOTIFICATIONS_READ)
ORDER_WAIT = 1.0
ORDER_POLL = 0.01


class _Learner(msgspec.Struct, frozen=True):
    """What every progress event says of whose progress it is, and its place in the
    learner's log (the rest is passed on as it is)."""

    account_id: uuid.UUID
    roadmap: str
    seq: int | None = None
    """A status change's number."""
    last_seq: int | None = None
    """A restore's last number ..."""
    events_added: int = 0
    """... and how many it added."""

    def key(self, seq: int) -> str:
        return f"{self.account_id}/{self.roadmap}/{seq}"

    @property
    def place(self) -> int | None:
        """This event's number in the learner's log; None: it has none (a completion)."""
        return self.seq if self.seq is not None else self.last_seq

    @property
    def before(self) -> int:
        """The number of the change before this one (0: none)."""
        if self.seq is not None:
            return self.seq - 1
        return (self.last_seq or 0) - self.events_added


class _Recipient(msgspec.Struct, frozen=True):
    """Whose notification event it is (the rest is passed on as it is)."""

    account_id: uuid.UUID


def _decoded(message: OutboxMessage, type_: type[T]) -> tuple[T, Any]:
    """What the handler reads of `message` (`type_`) and its whole payload, passed on."""
    try:
        return message.decode(type_), msgspec.json.decode(message.payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc


class LiveJobs:
    def __init__(self, channels: LiveChannels, teams: Teams) -> None:
        self.channels = channels
        self.teams = teams

    async def progress(self, message: OutboxMessage) -> None:
        event = message.kind.partition(">")[0]
        learner, data = _decoded(message, _Learner)
        own = user_channel(learner.account_id)
        place = learner.place
        if place is not None and learner.before > 0:
            await self._after(own, learner.key(learner.before))
        key = message.id if place is None else learner.key(place)
        teams = await self.teams.teams_of_learner(learner.account_id, learner.roadmap)
        channels = [*(team_channel(team) for team in teams), own]  # the learner's last
        for channel in channels:
            await self.channels.publish(channel, event, data, dedupe_key=key)
        log.debug("live_published", kind=event, channels=len(channels))

    async def _after(self, channel: str, key: str) -> None:
        """Wait (a while) until the event of `key` is published on `channel`."""
        deadline = asyncio.get_running_loop().time() + ORDER_WAIT
        while not await self.channels.published(channel, key):
            if asyncio.get_running_loop().time() >= deadline:
                log.info("live_published_out_of_order", channel=channel, waited_for=key)
                return
            await asyncio.sleep(ORDER_POLL)

    async def team_access(self, message: OutboxMessage) -> None:
        event, _ = _decoded(message, MembershipChanged)
        await self.channels.publish(
            team_channel(event.team_id),
            MEMBERSHIP_CHANGED,
            msgspec.to_builtins(event),
            dedupe_key=message.id,
        )

    async def notification(self, message: OutboxMessage) -> None:
        event = message.kind.partition(">")[0]
        recipient, data = _decoded(message, _Recipient)
        channel = user_channel(recipient.account_id)
        await self.channels.publish(channel, event, data, dedupe_key=message.id)

    def register(self, handlers: HandlerRegistry) -> None:
        for event in PROGRESS_EVENTS:
            handlers.subscribe(event, "live.progress", self.progress)
        for event in NOTIFICATION_EVENTS:
            handlers.subscribe(event, "live.notifications", self.notification)
        handlers.subscribe(MEMBERSHIP_CHANGED, "live.team-access", self.team_access)
