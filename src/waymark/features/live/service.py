"""Live updates: opening a stream of the caller's channels (one use case), following and
leaving team channels on an open stream (`LiveStream.follow` / `unfollow`, for the WebSocket),
and what the stream gives its transports (SSE, WebSocket) over the same `LiveStream`.

Who may follow what: `user:{id}` only its own account; `team:{id}` whoever may see that
team's progress now (teams' own check, `Teams.require_progress_view`: 404 outside the team,
403 to a role that may not), checked when the stream opens and again on every
`teams.membership-changed` control event of the team that concerns the caller: a member
removed while connected stops receiving at that event, which comes before any later one.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

import msgspec

from waymark.features.live.channels import (
    TEAM,
    USER,
    decode_cursor,
    encode_cursor,
    team_channel,
    team_of,
    user_channel,
)
from waymark.features.live.errors import TooManyStreams
from waymark.features.live.jobs import LiveJobs
from waymark.features.teams.messages import MEMBERSHIP_CHANGED
from waymark.features.teams.service import Teams
from waymark.infra.outbox import HandlerRegistry
from waymark.kernel.errors import FieldError, Forbidden, NotFound, ValidationFailed
from waymark.kernel.identity import Account
from waymark.kernel.live import RESYNC, CloseReason, LiveChannels, LiveSubscription
from waymark.settings import LiveSettings

RESYNC_ITEM = "resync"
CHANNEL_CLOSED = "channel-closed"


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """What a stream gives its transport: an event of a channel (`kind` its kind), or
    `resync` (refetch what you show of `channel`), or `channel-closed` (no longer allowed);
    `cursor` resumes every channel from just after it."""

    kind: str
    channel: str
    data: Any
    cursor: str
    id: str = ""
    """The event's own id in its channel (`""` for `resync` and `channel-closed`)."""


class LiveStream:
    def __init__(
        self,
        *,
        subscription: LiveSubscription,
        account: Account,
        teams: Teams,
        positions: dict[str, str],
        release: Any,
        resume: dict[str, str] | None = None,
        max_team_channels: int = 0,
    ) -> None:
        self.subscription = subscription
        self.account = account
        self.teams = teams
        self.positions = positions
        self.resume = resume
        """Where channels followed later resume from (the cursor the stream opened with)."""
        self.max_team_channels = max_team_channels
        self._pending: deque[Item] = deque()
        self._release = release

    @property
    def cursor(self) -> str:
        return encode_cursor(self.positions)

    @property
    def channels(self) -> list[str]:
        return sorted(self.positions)

    @property
    def closed_reason(self) -> CloseReason | None:
        return self.subscription.closed_reason

    def resync_all(self) -> None:
        for channel in self.channels:
            self._pending.append(
                Item(kind=RESYNC_ITEM, channel=channel, data={}, cursor=self.cursor)
            )

    async def follow(self, channel: str, *, after: str | None = None) -> str:
        """Follow `channel` too (`team:{id}`, or the caller's own `user:{id}`): checked as
        `Live.open` checks it (404/403, 422 past the cap of team channels; 422 for a name
        that is not a channel), resumed from `after` (a cursor), else from the cursor the
        stream opened with, else from now. Returns the channel's name as followed."""
        try:
            team = team_of(channel)
            other = team is None and uuid.UUID(channel.removeprefix(USER)) != self.account.id
        except ValueError:
            raise ValidationFailed([FieldError("channel", "not a channel")]) from None
        if other or not channel.startswith((USER, TEAM)):
            raise NotFound("no such channel")  # another account's, or nothing of ours
        channel = user_channel(self.account.id) if team is None else team_channel(team)
        if channel in self.positions:
            return channel
        teams = sum(1 for name in self.positions if name.startswith(TEAM))
        if team is not None and teams >= self.max_team_channels:
            limit = self.max_team_channels
            raise ValidationFailed([FieldError("channel", f"at most {limit} teams per stream")])
        if team is not None:
            await self.teams.require_progress_view(self.account, team)
        resume = decode_cursor(after) if after is not None else self.resume
        start = await self.subscription.add(channel, after=(resume or {}).get(channel))
        # Events of the channel may have been taken meanwhile: the newer position stays.
        self.positions.setdefault(channel, start)
        if resume is None and after is not None:  # not a cursor of ours: refetch
            self._pending.append(
                Item(kind=RESYNC_ITEM, channel=channel, data={}, cursor=self.cursor)
            )
        return channel

    async def unfollow(self, channel: str) -> None:
        """Stop following `channel`: nothing of it comes after this returns."""
        await self.subscription.remove(channel)
        self.positions.pop(channel, None)
        self._pending = deque(item for item in self._pending if item.channel != channel)

    async def next(self, within: float) -> Item | None:
        """The next item; None if none came `within` seconds; StopAsyncIteration once the
        subscription is closed (`closed_reason`)."""
        if self._pending:
            return self._pending.popleft()
        while True:
            event = await self.subscription.next(within)
            if event is None:
                return None
            self.positions[event.channel] = event.id
            if event.kind == RESYNC:
                return Item(kind=RESYNC_ITEM, channel=event.channel, data={}, cursor=self.cursor)
            if event.kind == MEMBERSHIP_CHANGED and not await self._still_allowed(
                event.channel, event.data
            ):
                await self.subscription.remove(event.channel)
                self.positions.pop(event.channel, None)
                data = {"reason": "forbidden"}
                return Item(
                    kind=CHANNEL_CLOSED, channel=event.channel, data=data, cursor=self.cursor
                )
            return Item(
                kind=event.kind,
                channel=event.channel,
                data=event.data,
                cursor=self.cursor,
                id=event.id,
            )

    async def _still_allowed(self, channel: str, data: Any) -> bool:
        team = team_of(channel)
        concerned = data.get("account_id") if isinstance(data, dict) else None
        if team is None or concerned not in (None, str(self.account.id)):
            return True
        try:
            await self.teams.require_progress_view(self.account, team)
        except (NotFound, Forbidden):
            return False
        return True

    async def aclose(self) -> None:
        """Release the subscription and the stream's place under the caps (idempotent)."""
        await self.subscription.aclose()
        release, self._release = self._release, None
        if release is not None:
            release()


class Live:
    def __init__(self, *, channels: LiveChannels, teams: Teams, settings: LiveSettings) -> None:
        self.channels = channels
        self.teams = teams
        self.settings = settings
        self._open: dict[uuid.UUID, int] = {}

    def register_jobs(self, handlers: HandlerRegistry) -> None:
        LiveJobs(self.channels, self.teams).register(handlers)

    @property
    def open_streams(self) -> int:
        return sum(self._open.values())

    async def open(
        self, account: Account, *, teams: Sequence[uuid.UUID] = (), cursor: str | None = None
    ) -> LiveStream:
        """The caller's channel and those of `teams` it may watch, each resumed from
        `cursor` (the last `Item.cursor` it got) or followed from now. 422 past the cap of
        team channels, 404/403 for a team it may not watch, 429 past the caps of streams."""
        wanted = list(dict.fromkeys(teams))
        if len(wanted) > self.settings.max_team_channels:
            limit = self.settings.max_team_channels
            raise ValidationFailed([FieldError("team", f"at most {limit} teams per stream")])
        if self._open.get(account.id, 0) >= self.settings.max_connections_per_account:
            raise TooManyStreams("this account has as many live streams open as it may")
        if self.open_streams >= self.settings.max_connections:
            raise TooManyStreams("this server holds as many live streams as it may")
        for team in wanted:
            await self.teams.require_progress_view(account, team)
        # Counted before the first wait on I/O below, so concurrent opens cannot overshoot.
        self._open[account.id] = self._open.get(account.id, 0) + 1
        release = _Release(self._open, account.id)
        subscription = self.channels.subscribe(queue_size=self.settings.queue_size)
        resume = decode_cursor(cursor) if cursor is not None else {}
        try:
            positions: dict[str, str] = {}
            for channel in [user_channel(account.id), *map(team_channel, wanted)]:
                after = (resume or {}).get(channel)
                positions[channel] = await subscription.add(channel, after=after)
        except BaseException:
            await subscription.aclose()
            release()
            raise
        stream = LiveStream(
            subscription=subscription,
            account=account,
            teams=self.teams,
            positions=positions,
            release=release,
            resume=resume,
            max_team_channels=self.settings.max_team_channels,
        )
        if resume is None:  # not a cursor of ours: everything from now, after a refetch
            stream.resync_all()
        return stream


class _Release:
    def __init__(self, counts: dict[uuid.UUID, int], account_id: uuid.UUID) -> None:
        self.counts = counts
        self.account_id = account_id

    def __call__(self) -> None:
        left = self.counts.get(self.account_id, 0) - 1
        if left > 0:
            self.counts[self.account_id] = left
        else:
            self.counts.pop(self.account_id, None)
