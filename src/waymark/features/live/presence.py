"""Who of a team is online: every live connection that follows a team's channel (an SSE
stream, a Socket.IO connection, whatever transport reads a `LiveStream`) puts its account
in the team's room while it follows it.

The rooms are the presence port's (`kernel.presence`: Redis in production, a table when
embedded), so every process sees the same; this process refreshes the holders it has, and
sweeps the expired ones of its rooms (a process that died left them), every third of the
TTL. When an account comes online in a room (its first connection there) or goes (its last
one), it is published on the team's channel as `presence.changed`
`{"account_id", "display_name", "online": true|false}`: one small event per change,
however large the team; the whole list is `Live.online` (`GET /teams/{id}/presence`).

Presence is best effort: a failure to write it is logged, and never fails or ends a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable

import structlog

from waymark.kernel.identity import Account
from waymark.kernel.live import LiveChannels
from waymark.kernel.presence import Presence, Present

log = structlog.get_logger(__name__)

PRESENCE_CHANGED = "presence.changed"


class TeamPresence:
    def __init__(
        self,
        *,
        store: Presence,
        channels: LiveChannels,
        clock: Callable[[], float],
        ttl: float,
    ) -> None:
        self.store = store
        self.channels = channels
        self.clock = clock
        self.ttl = ttl
        self._held: dict[str, dict[str, Account]] = {}
        """room -> {holder: its account}: what this process refreshes."""

    async def online(self, room: str) -> list[Present]:
        return await self.store.online(room, now=self.clock())

    async def enter(self, room: str, holder: str, account: Account) -> None:
        """`account` is online in `room` through `holder` (announced if it was not)."""
        self._held.setdefault(room, {})[holder] = account
        who = Present(account_id=str(account.id), display_name=account.display_name)

        async def enter() -> None:
            now = self.clock()
            if await self.store.enter(room, holder, who, expires_at=now + self.ttl, now=now):
                await self._announce(room, who, online=True)

        await _safely("presence_enter_failed", enter())

    async def leave(self, room: str, holder: str, account: Account) -> None:
        """`holder` leaves `room` (announced if its account has no other holder there)."""
        held = self._held.get(room, {})
        if held.pop(holder, None) is None:
            return
        if not held:
            self._held.pop(room, None)
        who = Present(account_id=str(account.id), display_name=account.display_name)

        async def leave() -> None:
            if await self.store.leave(room, holder, who.account_id, now=self.clock()):
                await self._announce(room, who, online=False)

        await _safely("presence_leave_failed", leave())

    async def _announce(self, room: str, who: Present, *, online: bool) -> None:
        data = {"account_id": who.account_id, "display_name": who.display_name, "online": online}
        await self.channels.publish(room, PRESENCE_CHANGED, data, dedupe_key=uuid.uuid4().hex)

    async def keep(self) -> None:
        """One round: refresh this process's holders (entering again those swept while
        they could not be refreshed), sweep its rooms' expired ones."""
        now = self.clock()
        for room, holders in list(self._held.items()):
            await _safely("presence_refresh_failed", self._keep(room, dict(holders), now))

    async def _keep(self, room: str, holders: dict[str, Account], now: float) -> None:
        expires_at = now + self.ttl
        for holder in await self.store.refresh(room, list(holders), expires_at=expires_at):
            account = holders[holder]
            who = Present(account_id=str(account.id), display_name=account.display_name)
            if await self.store.enter(room, holder, who, expires_at=expires_at, now=now):
                await self._announce(room, who, online=True)
        for who in await self.store.sweep(room, now=now):
            await self._announce(room, who, online=False)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """`keep` every third of the TTL until `stop`; then this process's holders leave."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl / 3)
            if not stop.is_set():
                await self.keep()
        for room, holders in list(self._held.items()):
            for holder, account in list(holders.items()):
                await self.leave(room, holder, account)


async def _safely(event: str, step: Awaitable[None]) -> None:
    try:
        await step
    except Exception:  # Redis or the database down: presence waits for the next round
        log.warning(event, exc_info=True)
