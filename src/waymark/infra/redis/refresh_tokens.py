"""Refresh-token families with rotation and reuse detection, each change one Lua script.

- `{p}rf:{family_id}`: hash of the `RefreshFamily` fields plus `expires_at` and `revoked`
  ('0'/'1'); TTL the time left until `expires_at` plus `LINGER_MS`, renewed on rotation.
  A revoked family stays until then, so its tokens answer "revoked" rather than "unknown".
- `{p}rf-user:{user_id}`: sorted set of the user's family ids (score: created_at).
- `{p}rt:{token_hash}`: hash `family` (and `rotated_at` once rotated); TTL the family's
  absolute expiry (plus `LINGER_MS`), so a replayed token is recognised for as long as its
  family could live.
- `{p}rt-next:{token_hash}`: the raw successor handed out when that token was rotated;
  TTL the grace window, so the raw token is not kept at rest any longer than that.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from waymark.infra.ephemeral import expires_at
from waymark.infra.redis.client import DEFAULT_PREFIX
from waymark.infra.redis.lua import PRELUDE, life_ms, list_live, pairs_to_dict
from waymark.infra.redis.pipelined import PipelinedRedis
from waymark.kernel.ports import (
    Invalid,
    RefreshFamily,
    Reused,
    Rotated,
    RotationResult,
)

# KEYS: family, current token, user index. ARGV: family TTL ms, absolute TTL ms, created_at,
# family id, then field, value, ...
CREATE = (
    PRELUDE
    + """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'family', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
extend_ttl(KEYS[3], tonumber(ARGV[2]))
return 1
"""
)

# KEYS: the presented token, its kept successor, the successor's token.
# ARGV: now, grace, successor, successor hash, key prefix, presented token hash.
# Returns {'rotated', token, family field, value, ...} | {'reused', family id, user id}
#       | {'invalid', reason}.
ROTATE = (
    PRELUDE
    + """
local now, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local successor, successor_hash, prefix = ARGV[3], ARGV[4], ARGV[5]
local token = redis.call('HMGET', KEYS[1], 'family', 'rotated_at')
if not token[1] then return {'invalid', 'unknown'} end
local family_key = prefix .. 'rf:' .. token[1]
local f = as_map(redis.call('HGETALL', family_key))
if not f.id then return {'invalid', 'unknown'} end
if f.revoked == '1' then return {'invalid', 'revoked'} end
local index_key = prefix .. 'rf-user:' .. f.user_id
if now > tonumber(f.expires_at) then
  redis.call('DEL', family_key)
  redis.call('ZREM', index_key, f.id)
  return {'invalid', 'expired'}
end

if f.current_hash == ARGV[6] then
  local last = tonumber(f.last_used_at)
  if now > last then last = now end
  local absolute = tonumber(f.absolute_expires_at)
  local expires = math.min(last + tonumber(f.idle_timeout), absolute)
  redis.call('HSET', family_key,
    'current_hash', successor_hash, 'last_used_at', fmt(last), 'expires_at', fmt(expires))
  redis.call('PEXPIRE', family_key, life_ms(expires - now))
  redis.call('HSET', KEYS[1], 'rotated_at', fmt(now))
  redis.call('PEXPIRE', KEYS[1], life_ms(absolute - now))
  if grace > 0 then redis.call('SET', KEYS[2], successor, 'PX', ttl_ms(grace)) end
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], 'family', f.id)
  redis.call('PEXPIRE', KEYS[3], life_ms(absolute - now))
  return {'rotated', successor, unpack(redis.call('HGETALL', family_key))}
end

if not token[2] then return {'invalid', 'unknown'} end
if now - tonumber(token[2]) < grace then
  local kept = redis.call('GET', KEYS[2])
  if kept then return {'rotated', kept, unpack(redis.call('HGETALL', family_key))} end
end
redis.call('HSET', family_key, 'revoked', '1')
redis.call('ZREM', index_key, f.id)
redis.call('DEL', KEYS[2])
return {'reused', f.id, f.user_id}
"""
)

# KEYS: family. ARGV: user index key prefix. Returns 1 if it was live and is now revoked.
REVOKE = """
local f = redis.call('HMGET', KEYS[1], 'id', 'user_id', 'revoked')
if not f[1] or f[3] == '1' then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
redis.call('ZREM', ARGV[1] .. f[2], f[1])
return 1
"""

# KEYS: user index. ARGV: now, family key prefix. Returns the live families' fields.
LIST = list_live(id_field="id", revocable=True)

# KEYS: user index. ARGV: family key prefix, family id to keep ('' for none).
# Returns how many families were revoked.
REVOKE_USER = """
local revoked = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    local key = ARGV[1] .. id
    local state = redis.call('HGET', key, 'revoked')
    if state == '0' then
      redis.call('HSET', key, 'revoked', '1')
      revoked = revoked + 1
    end
    redis.call('ZREM', KEYS[1], id)
  end
end
return revoked
"""


def _family(flat: list[str]) -> RefreshFamily:
    return msgspec.convert(pairs_to_dict(flat), RefreshFamily, strict=False)


def _result(reply: list[Any]) -> RotationResult:
    kind = reply[0]
    if kind == "rotated":
        return Rotated(family=_family(reply[2:]), token=reply[1])
    if kind == "reused":
        return Reused(family_id=reply[1], user_id=reply[2])
    return Invalid(reply[1])


class RedisRefreshTokenStore:
    def __init__(
        self, client: Redis, *, prefix: str = DEFAULT_PREFIX, reads: PipelinedRedis | None = None
    ) -> None:
        """`reads`: the lean client for `is_live`, made on every request with an access
        token (`waymark.infra.redis.pipelined`); without one, redis-py does it."""
        self._client = client
        self._reads = reads
        self._prefix = prefix
        self._family = f"{prefix}rf:"
        self._index = f"{prefix}rf-user:"
        self._token = f"{prefix}rt:"
        self._kept = f"{prefix}rt-next:"
        self._create = client.register_script(CREATE)
        self._rotate = client.register_script(ROTATE)
        self._revoke = client.register_script(REVOKE)
        self._list = client.register_script(LIST)
        self._revoke_user = client.register_script(REVOKE_USER)

    async def create_family(self, family: RefreshFamily) -> None:
        expires = expires_at(
            last_seen=family.last_used_at,
            idle_timeout=family.idle_timeout,
            absolute_expires_at=family.absolute_expires_at,
        )
        fields: list[str | float] = []
        for name, value in msgspec.structs.asdict(family).items():
            fields += [name, value]
        await self._create(
            keys=[
                self._family + family.id,
                self._token + family.current_hash,
                self._index + family.user_id,
            ],
            args=[
                life_ms(expires - family.last_used_at),
                life_ms(family.absolute_expires_at - family.last_used_at),
                family.created_at,
                family.id,
                *fields,
                "expires_at",
                expires,
                "revoked",
                "0",
            ],
        )

    async def rotate(
        self,
        token_hash: str,
        *,
        successor: str,
        successor_hash: str,
        now: float,
        grace: float,
    ) -> RotationResult:
        reply = await self._rotate(
            keys=[
                self._token + token_hash,
                self._kept + token_hash,
                self._token + successor_hash,
            ],
            args=[float(now), float(grace), successor, successor_hash, self._prefix, token_hash],
        )
        return _result(reply)

    async def revoke_family(self, family_id: str) -> bool:
        return bool(await self._revoke(keys=[self._family + family_id], args=[self._index]))

    async def is_live(self, family_id: str, *, user_id: str, now: float) -> bool:
        """Whether the family exists, is the user's, is not revoked and has not expired.
        One HMGET."""
        fields = ["user_id", "revoked", "expires_at"]
        key = self._family + family_id
        if self._reads is not None:
            owner, revoked, expires = await self._reads.hmget(key, fields)
        else:  # decode_responses: text, as the lean reader gives
            owner, revoked, expires = await self._client.hmget(key, fields)  # type: ignore[assignment]
        return owner == user_id and revoked == "0" and expires is not None and now <= float(expires)

    async def list_for_user(self, user_id: str, *, now: float) -> list[RefreshFamily]:
        rows = await self._list(keys=[self._index + user_id], args=[float(now), self._family])
        families = [_family(flat) for flat in rows]
        families.sort(key=lambda f: (f.last_used_at, f.id), reverse=True)
        return families

    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        return int(
            await self._revoke_user(keys=[self._index + user_id], args=[self._family, keep or ""])
        )
