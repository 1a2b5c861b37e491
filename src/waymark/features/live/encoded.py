"""The part of an event's frame every stream carrying it shares, encoded once per process.

A channel's event goes to each of its subscribers' streams; what differs between their
frames is only the cursor (every channel a stream follows, so its own). The rest (the
channel, the kind, the id, the data as JSON) is the same bytes for all of them: each
transport (SSE, the WebSocket) keeps its encoding of it here, keyed by the channel and the
event's id (an id names one event of its channel, whose content never changes), so a
fan-out to 1,000 streams encodes it once, not 1,000 times (`bench/fanout`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from waymark.features.live.service import Item

T = TypeVar("T")

SIZE = 256
"""Events kept: those being fanned out now (a few); older ones are encoded again if asked."""


class EncodedEvents(Generic[T]):
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._encoded: dict[tuple[str, str], T] = {}

    def get(self, item: Item, encode: Callable[[Item], T]) -> T:
        """The shared part of the event `item` (one with an `id`), `encode(item)` the first
        time it is asked for."""
        key = (item.channel, item.id)
        found = self._encoded.get(key)
        if found is None:
            found = self._encoded[key] = encode(item)
            if len(self._encoded) > self.size:
                del self._encoded[next(iter(self._encoded))]  # the oldest
        return found
