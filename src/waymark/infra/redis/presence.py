"""Presence in Redis (`kernel.presence.Presence`, the production profile).

Keys under the prefix, per room, and per account in it:

    {p}presence:{room}               sorted set  holder -> its expiry (Unix seconds)
    {p}presence-who:{room}           hash        holder -> {"account_id", "display_name"}
    {p}presence-of:{room}:{account}  sorted set  the account's holders -> their expiry

Each operation is one script, so whether an account's being online changed is decided
atomically (the sweep finds an expired holder's account in its JSON, hence a key it builds:
a single Redis, not a cluster). Liveness is the score against the caller's `now`, as in the
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
local before = redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[5], '+inf')
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
if before == 0 then return 1 end
return 0
"""

REFRESH = """
local whos = redis.call('HMGET', KEYS[2], unpack(ARGV, 4))
local missing = {}
for i = 4, #ARGV do
  local who = whos[i - 3]
  if who then
    local key = ARGV[3] .. cjson.decode(who).account_id
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
    redis.call('ZADD', key, 'XX', ARGV[1], ARGV[i])
    redis.call('PEXPIRE', key, ARGV[2])
  else
    table.insert(missing, ARGV[i])
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return missing
"""

LEAVE = """
local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if (not score) or tonumber(score) <= tonumber(ARGV[2]) then return 0 end
if redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[2], '+inf') == 0 then return 1 end
return 0
"""

ONLINE = """
local holders = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
if #holders == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(holders))
"""

SWEEP = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local gone = {}
if #lapsed == 0 then return gone end
local whos = redis.call('HMGET', KEYS[2], unpack(lapsed))
redis.call('ZREM', KEYS[1], unpack(lapsed))
redis.call('HDEL', KEYS[2], unpack(lapsed))
local seen = {}
for i, holder in ipairs(lapsed) do
  local who = whos[i]
  if who then
    local account = cjson.decode(who).account_id
    local key = ARGV[2] .. account
    redis.call('ZREM', key, holder)
    if not seen[account] then
      seen[account] = true
      if redis.call('ZCOUNT', key, '(' .. ARGV[1], '+inf') == 0 then table.insert(gone, who) end
    end
  end
end
return gone
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

    def _of(self, room: str, account_id: str = "") -> str:
        return f"{self.prefix}presence-of:{room}:{account_id}"

    async def enter(
        self, room: str, holder: str, who: Present, *, expires_at: float, now: float
    ) -> bool:
        keys = [*self._keys(room), self._of(room, who.account_id)]
        entry = msgspec.json.encode(who).decode()
        args: list[str | int] = [repr(expires_at), holder, entry, _keep_ms(expires_at), repr(now)]
        return bool(await self._enter(keys=keys, args=args))

    async def refresh(self, room: str, holders: Sequence[str], *, expires_at: float) -> list[str]:
        if not holders:
            return []
        args: list[str | int] = [repr(expires_at), _keep_ms(expires_at), self._of(room)]
        args.extend(holders)
        return cast(list[str], await self._refresh(keys=self._keys(room), args=args))

    async def leave(self, room: str, holder: str, account_id: str, *, now: float) -> bool:
        keys = [*self._keys(room), self._of(room, account_id)]
        return bool(await self._leave(keys=keys, args=[holder, repr(now)]))

    async def online(self, room: str, *, now: float) -> list[Present]:
        entries = cast(list[Any], await self._online(keys=self._keys(room), args=[repr(now)]))
        return ordered([_decode(entry) for entry in entries if entry is not None])

    async def sweep(self, room: str, *, now: float) -> list[Present]:
        args = [repr(now), self._of(room)]
        gone = cast(list[Any], await self._sweep(keys=self._keys(room), args=args))
        return ordered([_decode(entry) for entry in gone])


def _decode(entry: str) -> Present:
    return msgspec.json.decode(entry, type=Present)
