"""Browser sessions: a hash per session and a sorted set per user.

`{p}sess:{id_hash}` holds the `SessionRecord` fields plus `expires_at` (idle or absolute,
whichever comes first); its TTL, the time left until then plus `LINGER_MS`, slides on touch,
which writes only when the recorded activity is `TOUCH_GRANULARITY` old (as the SQL store).
`{p}sess-user:{user_id}` lists the user's id hashes (score: created_at); members whose hash
has gone are dropped the next time the list is read.
"""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from waymark.infra.ephemeral import expires_at
from waymark.infra.redis.client import DEFAULT_PREFIX
from waymark.infra.redis.lua import PRELUDE, life_ms, list_live, pairs_to_dict
from waymark.kernel.ports import TOUCH_GRANULARITY, AuthLevel, SessionRecord

# KEYS: session, user index. ARGV: session TTL ms, index TTL ms, created_at, id hash,
# then field, value, ...
CREATE = (
    PRELUDE
    + """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
extend_ttl(KEYS[2], tonumber(ARGV[2]))
return 1
"""
)

# KEYS: session. ARGV: now, user index key prefix, granularity. Returns the session's fields
# or nil. The activity is written only when the recorded one is `granularity` old: every
# request of a browser touches its session, and most find it touched a moment ago.
TOUCH = (
    PRELUDE
    + """
local fields = redis.call('HGETALL', KEYS[1])
local s = as_map(fields)
if not s.id_hash then return false end
local now = tonumber(ARGV[1])
if now > tonumber(s.expires_at) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[2] .. s.user_id, s.id_hash)
  return false
end
local last = tonumber(s.last_seen_at)
if now - last < tonumber(ARGV[3]) then return fields end
local expires = math.min(now + tonumber(s.idle_timeout), tonumber(s.absolute_expires_at))
redis.call('HSET', KEYS[1], 'last_seen_at', fmt(now), 'expires_at', fmt(expires))
redis.call('PEXPIRE', KEYS[1], life_ms(expires - now))
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: session, new session. ARGV: now, user index key prefix, new id hash, csrf token,
# auth level ('' for unchanged). Returns the renewed session's fields or nil.
RENEW = (
    PRELUDE
    + """
local s = as_map(redis.call('HGETALL', KEYS[1]))
if not s.id_hash then return false end
local now = tonumber(ARGV[1])
local index = ARGV[2] .. s.user_id
if now > tonumber(s.expires_at) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', index, s.id_hash)
  return false
end
local last = tonumber(s.last_seen_at)
if now > last then last = now end
local expires = math.min(last + tonumber(s.idle_timeout), tonumber(s.absolute_expires_at))
local old_id = s.id_hash
s.id_hash = ARGV[3]
s.csrf_token = ARGV[4]
s.last_seen_at = fmt(last)
s.expires_at = fmt(expires)
if ARGV[5] ~= '' then s.auth_level = ARGV[5] end
local fields = {}
for name, value in pairs(s) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
-- The old key goes first, so a renewal to the same id keeps the session.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], life_ms(expires - now))
redis.call('ZREM', index, old_id)
redis.call('ZADD', index, s.created_at, s.id_hash)
extend_ttl(index, life_ms(tonumber(s.absolute_expires_at) - now))
return redis.call('HGETALL', KEYS[2])
"""
)

# KEYS: session. ARGV: user index key prefix. Returns 1 if the session existed.
DELETE = """
local s = redis.call('HMGET', KEYS[1], 'id_hash', 'user_id')
if not s[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. s[2], s[1])
return 1
"""

# KEYS: user index. ARGV: now, session key prefix. Returns the live sessions' fields.
LIST = list_live(id_field="id_hash", revocable=False)

# KEYS: user index. ARGV: session key prefix, id hash to keep ('' for none). Returns how many.
DELETE_FOR_USER = """
local ended = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return ended
"""


def _record(flat: list[str]) -> SessionRecord:
    return msgspec.convert(pairs_to_dict(flat), SessionRecord, strict=False)


class RedisSessionStore:
    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._session = f"{prefix}sess:"
        self._index = f"{prefix}sess-user:"
        self._create = client.register_script(CREATE)
        self._touch = client.register_script(TOUCH)
        self._renew = client.register_script(RENEW)
        self._delete = client.register_script(DELETE)
        self._list = client.register_script(LIST)
        self._delete_for_user = client.register_script(DELETE_FOR_USER)

    async def create(self, record: SessionRecord) -> None:
        expires = expires_at(
            last_seen=record.last_seen_at,
            idle_timeout=record.idle_timeout,
            absolute_expires_at=record.absolute_expires_at,
        )
        fields: list[str | float] = []
        for name, value in msgspec.structs.asdict(record).items():
            fields += [name, value]
        await self._create(
            keys=[self._session + record.id_hash, self._index + record.user_id],
            args=[
                life_ms(expires - record.last_seen_at),
                life_ms(record.absolute_expires_at - record.last_seen_at),
                record.created_at,
                record.id_hash,
                *fields,
                "expires_at",
                expires,
            ],
        )

    async def touch(self, id_hash: str, *, now: float) -> SessionRecord | None:
        flat = await self._touch(
            keys=[self._session + id_hash], args=[float(now), self._index, TOUCH_GRANULARITY]
        )
        return None if flat is None else _record(flat)

    async def renew(
        self,
        id_hash: str,
        *,
        new_id_hash: str,
        csrf_token: str,
        now: float,
        auth_level: AuthLevel | None = None,
    ) -> SessionRecord | None:
        flat = await self._renew(
            keys=[self._session + id_hash, self._session + new_id_hash],
            args=[float(now), self._index, new_id_hash, csrf_token, auth_level or ""],
        )
        return None if flat is None else _record(flat)

    async def delete(self, id_hash: str) -> bool:
        return bool(await self._delete(keys=[self._session + id_hash], args=[self._index]))

    async def list_for_user(self, user_id: str, *, now: float) -> list[SessionRecord]:
        rows = await self._list(keys=[self._index + user_id], args=[float(now), self._session])
        records = [_record(flat) for flat in rows]
        records.sort(key=lambda r: (r.created_at, r.id_hash), reverse=True)
        return records

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        return int(
            await self._delete_for_user(
                keys=[self._index + user_id], args=[self._session, keep or ""]
            )
        )
