"""GCRA in one Lua script, so every process shares one limit.

Key `{p}rl:{key}`: a hash with `last` (epoch seconds) and `level` (seconds of the period in
use at `last`), expiring after `period`, when any level has drained. The script mirrors
`waymark.infra.ephemeral.gcra`.
"""

from __future__ import annotations

from redis.asyncio import Redis

from waymark.infra.ephemeral import TIME_EPSILON, check_rate_limit
from waymark.infra.redis.client import DEFAULT_PREFIX
from waymark.infra.redis.lua import PRELUDE
from waymark.kernel.ports import RateLimitDecision

# KEYS: the bucket. ARGV: now, limit, period, cost, epsilon.
# Returns {allowed (0/1), remaining, reset_after, retry_after}.
HIT = (
    PRELUDE
    + """
local now, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cost, eps = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'last', 'level')
local last = tonumber(state[1]) or now
local level = tonumber(state[2]) or 0
local interval = period / limit
local elapsed = now - last
if elapsed < 0 then elapsed = 0 end
level = level - elapsed
if level < 0 then level = 0 end
local new_level = level + interval * cost
local function remaining(used)
  local n = math.floor((period - used + eps) / interval)
  if n < 0 then return 0 end
  if n > limit then return limit end
  return n
end
if new_level <= period + eps then
  if now > last then last = now end
  redis.call('HSET', KEYS[1], 'last', fmt(last), 'level', fmt(new_level))
  redis.call('PEXPIRE', KEYS[1], ttl_ms(period))
  return {1, remaining(new_level), fmt(new_level), '0'}
end
return {0, remaining(level), fmt(level), fmt(new_level - period)}
"""
)


class RedisRateLimiter:
    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}rl:"
        self._hit = client.register_script(HIT)

    async def hit(
        self, key: str, *, limit: int, period: float, now: float, cost: int = 1
    ) -> RateLimitDecision:
        check_rate_limit(limit=limit, period=period, cost=cost)
        allowed, remaining, reset_after, retry_after = await self._hit(
            keys=[self._prefix + key],
            args=[float(now), limit, float(period), cost, TIME_EPSILON],
        )
        return RateLimitDecision(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            reset_after=float(reset_after),
            retry_after=float(retry_after),
        )

    async def reset(self, key: str) -> None:
        await self._client.delete(self._prefix + key)
