"""Presence in Redis (`kernel.presence.Presence`, the production profile).

Keys under the prefix, per room:

    {p}presence:{room}      sorted set  holder -> its expiry (Unix seconds)
    {p}presence-who:{room}  hash        holder -> {"account_id", "display_name"} as JSON

Scripts keep the two together. Liveness is the score against the caller's `now`, as in the
SQL adapter; key TTLs only collect the garbage of rooms nobody refreshes (a minute past the
newest expiry written).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from redis.asyncio import Redis

from waymark.kernel.presence import Present, ordered

LINGER_SECONDS = 60.0

ENTER = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
"""

REFRESH = """
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i]) end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
"""

LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
"""

ONLINE = """
local holders = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
if #holders == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(holders))
"""

SWEEP = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
end
return #gone
"""


def _keep_ms(expires_at: float) -> int:
    return max(1, math.ceil((expires_at - time.time() + LINGER_SECONDS) * 1000))


class RedisPresence:
    def __init__(self, client: Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._enter = client.register_script(ENTER)
        self._refresh = client.register_script(REFRESH)
        self._leave = client.register_script(LEAVE)
        self._online = client.register_script(ONLINE)
        self._sweep = client.register_script(SWEEP)

    def _keys(self, room: str) -> list[str]:
        return [f"{self.prefix}presence:{room}", f"{self.prefix}presence-who:{room}"]

    async def enter(self, room: str, holder: str, who: Present, *, expires_at: float) -> None:
        entry = msgspec.json.encode(who).decode()
        args: list[str | int] = [repr(expires_at), holder, entry, _keep_ms(expires_at)]
        await self._enter(keys=self._keys(room), args=args)

    async def refresh(self, room: str, holders: Sequence[str], *, expires_at: float) -> None:
        if holders:
            args: list[str | int] = [repr(expires_at), _keep_ms(expires_at), *holders]
            await self._refresh(keys=self._keys(room), args=args)

    async def leave(self, room: str, holder: str) -> None:
        await self._leave(keys=self._keys(room), args=[holder])

    async def online(self, room: str, *, now: float) -> list[Present]:
        entries = cast(list[Any], await self._online(keys=self._keys(room), args=[repr(now)]))
        return ordered(
            [msgspec.json.decode(entry, type=Present) for entry in entries if entry is not None]
        )

    async def sweep(self, room: str, *, now: float) -> int:
        return int(await self._sweep(keys=self._keys(room), args=[repr(now)]))
