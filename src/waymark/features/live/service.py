"""Live updates: opening a stream of the caller's channels (one use case), following and
leaving team channels on it, who of a team is online (`features/live/presence.py`), and
what the stream gives its transports (SSE, Socket.IO, the WebSocket: one `LiveStream` each).

Who may follow what: `user:{id}` only its own account; `team:{id}` whoever may see that
team's progress now (teams' own check, `Teams.require_progress_view`: 404 outside the team,
403 to a role that may not), checked when the stream opens and again on every
`teams.membership-changed` control event of the team that concerns the caller: a member
removed while connected stops receiving at that event, which comes before any later one.

A transport that can write a frame without waiting (the gateway's socket, Granian's SSE
body) has a stream's plain events written as they arrive (`LiveStream.deliver_directly`)
while it waits for the next one; control events (`teams.membership-changed`, whose check
awaits the database), resyncs and anything after a queued item take `next`, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Callable, Sequence
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
from waymark.features.live.presence import TeamPresence
from waymark.features.teams.messages import MEMBERSHIP_CHANGED
from waymark.features.teams.service import Teams
from waymark.infra.outbox import HandlerRegistry
from waymark.kernel.errors import (
    FieldError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from waymark.kernel.identity import Account
from waymark.kernel.live import RESYNC, CloseReason, LiveChannels, LiveEvent, LiveSubscription
from waymark.kernel.presence import Presence, Present
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
        presence: TeamPresence,
        max_teams: int,
        resume: dict[str, str] | None = None,
    ) -> None:
        self.subscription = subscription
        self.account = account
        self.teams = teams
        self.positions = positions
        self.presence = presence
        self.max_teams = max_teams
        self.holder = uuid.uuid4().hex
        """This stream's own id, as the holder of its account's presence in its teams."""
        self.resume = resume
        """Where channels followed later resume from (the cursor the stream opened with)."""
        self._pending: deque[Item] = deque()
        self._release = release
        self._write: Callable[[Item], bool] | None = None

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

    def team_named(self, channel: str) -> uuid.UUID | None:
        """The team whose channel `channel` names (`team:{id}`), for a transport that
        takes channel names; None for the caller's own `user:{id}` (always followed). 422
        for a name that is not a channel, 404 for another account's."""
        try:
            team = team_of(channel)
            other = team is None and uuid.UUID(channel.removeprefix(USER)) != self.account.id
        except ValueError:
            raise ValidationFailed([FieldError("channel", "not a channel")]) from None
        if other or not channel.startswith((USER, TEAM)):
            raise NotFound("no such channel")  # another account's, or nothing of ours
        return team

    async def follow_named(self, channel: str, *, after: str | None = None) -> str:
        """`follow` for a transport that takes channel names (the WebSocket): the team of
        `team:{id}` (the caller's own `user:{id}` is always followed), refused as
        `team_named` refuses; returns the channel's name as followed."""
        team = self.team_named(channel)
        if team is None:
            return user_channel(self.account.id)
        await self.follow(team, after=after)
        return team_channel(team)

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
                await self.unfollow(event.channel)
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

    def deliver_directly(self, write: Callable[[Item], bool] | None) -> None:
        """While the transport waits in `next`, give it each plain event of a followed
        channel as it arrives: `write(item)` writes its frame now (True) or cannot without
        waiting (False: the item comes from `next` instead). None: everything from `next`."""
        self._write = write
        self.subscription.direct(None if write is None else self._direct)

    def _direct(self, event: LiveEvent) -> bool:
        write = self._write
        channel = event.channel
        if (
            write is None
            or self._pending
            or event.kind in (RESYNC, MEMBERSHIP_CHANGED)
            or channel not in self.positions
        ):
            return False
        before = self.positions[channel]
        self.positions[channel] = event.id
        item = Item(
            kind=event.kind, channel=channel, data=event.data, cursor=self.cursor, id=event.id
        )
        if write(item):
            return True
        self.positions[channel] = before  # `next` moves it when it gives the event
        return False

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

    async def follow(self, team: uuid.UUID, *, after: str | None = None) -> str:
        """Follow `team`'s channel too, if the caller may see its progress now (404/403),
        within the cap of team channels (422); resumed from `after` (a cursor this stream
        or an earlier one gave: the channel's position in it), else from the cursor the
        stream opened with, else from now. Returns the cursor of where every channel
        stands, and puts the caller in the team's presence."""
        channel = team_channel(team)
        if channel in self.positions:
            return self.cursor
        if sum(1 for name in self.positions if team_of(name)) >= self.max_teams:
            limit = self.max_teams
            raise ValidationFailed([FieldError("channel", f"at most {limit} teams per stream")])
        await self.teams.require_progress_view(self.account, team)
        resume = decode_cursor(after) if after is not None else (self.resume or {})
        position = await self.subscription.add(channel, after=(resume or {}).get(channel))
        # Events of the channel may have been taken meanwhile: the newer position stays.
        self.positions.setdefault(channel, position)
        if resume is None:  # not a cursor of ours: from now, after a refetch
            item = Item(kind=RESYNC_ITEM, channel=channel, data={}, cursor=self.cursor)
            self._pending.append(item)
        await self.presence.enter(channel, self.holder, self.account)
        return self.cursor

    async def unfollow(self, channel: str) -> None:
        """Stop following `channel` (nothing more of it comes); the caller leaves its
        presence. A channel not followed, or the caller's own, is left alone."""
        if channel not in self.positions or team_of(channel) is None:
            return
        await self.subscription.remove(channel)
        del self.positions[channel]
        self._pending = deque(item for item in self._pending if item.channel != channel)
        await self.presence.leave(channel, self.holder, self.account)

    async def aclose(self) -> None:
        """Release the subscription, the caller's presence in its teams and the stream's
        place under the caps (idempotent)."""
        await self.subscription.aclose()
        for channel in self.channels:
            if team_of(channel) is not None:
                await self.presence.leave(channel, self.holder, self.account)
        release, self._release = self._release, None
        if release is not None:
            release()


class Live:
    def __init__(
        self,
        *,
        channels: LiveChannels,
        presence: Presence,
        teams: Teams,
        settings: LiveSettings,
        clock: Callable[[], float],
    ) -> None:
        self.channels = channels
        self.teams = teams
        self.settings = settings
        self.presence = TeamPresence(
            store=presence, channels=channels, clock=clock, ttl=settings.presence_ttl_seconds
        )
        self._open: dict[uuid.UUID, int] = {}
        self._streams: set[LiveStream] = set()
        self._all_gone = asyncio.Event()
        """Set when the last open stream was let go of (what `stop` waits for)."""
        self._stopping = False

    def register_jobs(self, handlers: HandlerRegistry) -> None:
        LiveJobs(self.channels, self.teams).register(handlers)

    @property
    def open_streams(self) -> int:
        return sum(self._open.values())

    async def online(self, account: Account, team: uuid.UUID) -> list[Present]:
        """Who of `team` follows its channel now, on any process; 404/403 as for its
        progress."""
        await self.teams.require_progress_view(account, team)
        return await self.presence.online(team_channel(team))

    async def end_all(self) -> None:
        """End every stream of this process (`SHUTDOWN`: each transport tells its client to
        reconnect, to another process): the process is stopping."""
        await self.channels.aclose()

    async def keep_presence(self, stop: asyncio.Event) -> None:
        """Refresh this process's presence until `stop` (run by each server process)."""
        await self.presence.run_forever(stop)

    async def stop(self, grace: float) -> None:
        """This process is stopping: new streams are refused (503), every open one ends
        (`shutdown`: its transport says so, `event: close`, 1001, Socket.IO's `close`), and
        this waits at most `grace` seconds for their transports to let go of them."""
        self._stopping = True
        for stream in tuple(self._streams):
            await stream.subscription.aclose(CloseReason.SHUTDOWN)
        if self._streams:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), grace)

    def _forget(self, stream: LiveStream) -> None:
        self._streams.discard(stream)
        if not self._streams:
            self._all_gone.set()

    async def open(
        self, account: Account, *, teams: Sequence[uuid.UUID] = (), cursor: str | None = None
    ) -> LiveStream:
        """The caller's channel and those of `teams` it may watch, each resumed from
        `cursor` (the last `Item.cursor` it got) or followed from now. 422 past the cap of
        team channels, 404/403 for a team it may not watch, 429 past the caps of streams."""
        if self._stopping:
            raise ServiceUnavailable("this server is stopping: connect again", retry_after=1)
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
        release = _Release(self._open, account.id, self._forget)
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
            presence=self.presence,
            max_teams=self.settings.max_team_channels,
            resume=resume,
        )
        release.stream = stream
        self._streams.add(stream)
        self._all_gone.clear()
        if self._stopping:  # opened while `stop` ran: it ends at once too
            await subscription.aclose(CloseReason.SHUTDOWN)
        for channel in stream.channels:
            if team_of(channel) is not None:
                await self.presence.enter(channel, stream.holder, account)
        if resume is None:  # not a cursor of ours: everything from now, after a refetch
            stream.resync_all()
        return stream


class _Release:
    def __init__(
        self,
        counts: dict[uuid.UUID, int],
        account_id: uuid.UUID,
        forget: Callable[[LiveStream], None],
    ) -> None:
        self.counts = counts
        self.account_id = account_id
        self.forget = forget
        self.stream: LiveStream | None = None

    def __call__(self) -> None:
        if self.stream is not None:
            self.forget(self.stream)
        left = self.counts.get(self.account_id, 0) - 1
        if left > 0:
            self.counts[self.account_id] = left
        else:
            self.counts.pop(self.account_id, None)
