"""Lua shared by the scripts. Numbers travel as strings: Redis truncates Lua numbers it returns
to integers, and `%.17g` round-trips a double exactly (Python sends `repr(float)`).

Liveness is decided by the scripts from the stored times and the caller's `now`, exactly as
the SQL adapter decides it. Key TTLs only collect garbage: records stay `LINGER_MS` past
their expiry, so a clock a little off on one app host never turns "expired" into "unknown".
The raw successor of a rotated refresh token is the exception: it lives for the grace
window only.
"""

from __future__ import annotations

import math

LINGER_MS = 60_000

PRELUDE = f"""
local LINGER_MS = {LINGER_MS}
local function fmt(x) return string.format('%.17g', x) end
local function ttl_ms(seconds)
  local ms = math.ceil(seconds * 1000)
  if ms < 1 then return 1 end
  return ms
end
local function life_ms(seconds) return ttl_ms(seconds) + LINGER_MS end
local function as_map(flat)
  local map = {{}}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end
local function extend_ttl(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""


def list_live(*, id_field: str, revocable: bool) -> str:
    """The script that lists a user's live records from their index (sessions, families).

    KEYS: the user's index (a sorted set of record ids). ARGV: now, the record key prefix.
    Returns each live record's fields (HGETALL); drops from the index the ids of records
    that are gone (or revoked), and deletes records past their expiry.
    """
    dead = f"not r.{id_field}" + (" or r.revoked == '1'" if revocable else "")
    return (
        PRELUDE
        + f"""
local now = tonumber(ARGV[1])
local live = {{}}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[2] .. id
  local flat = redis.call('HGETALL', key)
  local r = as_map(flat)
  if {dead} then
    redis.call('ZREM', KEYS[1], id)
  elseif now > tonumber(r.expires_at) then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
  else
    live[#live + 1] = flat
  end
end
return live
"""
    )


def pairs_to_dict(flat: list[str]) -> dict[str, str]:
    """A flat `[field, value, ...]` reply (HGETALL in a script) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def life_ms(seconds: float) -> int:
    """Mirror of the Lua `life_ms`: the TTL of a record that dies in `seconds`."""
    return max(1, math.ceil(seconds * 1000)) + LINGER_MS
