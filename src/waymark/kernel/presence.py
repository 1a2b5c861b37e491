"""The presence port: who is online in a room (a team's live channel) now, across processes.

A *holder* is one connection (an SSE stream, a Socket.IO connection) that puts an account in
a room; an account is online in a room while at least one of its holders there has not
expired. Holders are refreshed by the process that holds them; a process that dies stops
refreshing, and its holders lapse at their `expires_at`. Each change says whether the
account's being online changed (so that it is announced once, in a message of constant
size, however large the room). One contract suite holds the adapters (SQL, Redis) to these
rules (`tests/contract/test_presence.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec


class Present(msgspec.Struct, frozen=True, kw_only=True):
    """An account online in a room, as shown to the room's other members."""

    account_id: str
    display_name: str


class Presence(Protocol):
    async def enter(
        self, room: str, holder: str, who: Present, *, expires_at: float, now: float
    ) -> bool:
        """`who` is online in `room` through `holder` until `expires_at` (Unix seconds;
        entering again moves it). True if `who` was not online there at `now` before."""
        ...

    async def refresh(self, room: str, holders: Sequence[str], *, expires_at: float) -> list[str]:
        """Move the expiry of those of `holders` still in `room`; those no longer there
        (swept while their process could not refresh them) are returned, not added back:
        the process enters them again, which says whether their account came back."""
        ...

    async def leave(self, room: str, holder: str, account_id: str, *, now: float) -> bool:
        """`holder` (of `account_id`) no longer puts anyone in `room`. True if the account
        was online through it and no other holder keeps it online at `now`."""
        ...

    async def online(self, room: str, *, now: float) -> list[Present]:
        """Who is online in `room` at `now`: each account once (however many holders),
        ordered by display name, then id."""
        ...

    async def sweep(self, room: str, *, now: float) -> list[Present]:
        """Delete the holders of `room` expired at `now`; the accounts that are no longer
        online because of it (each once, whichever process sweeps at the same time)."""
        ...


def ordered(entries: Sequence[Present]) -> list[Present]:
    """Each account once, by display name then id (what `online` returns, in every adapter)."""
    unique = {entry.account_id: entry for entry in entries}
    return sorted(unique.values(), key=lambda entry: (entry.display_name, entry.account_id))
