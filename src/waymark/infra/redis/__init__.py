"""Redis adapters for the ephemeral-state ports: one Lua script per read-modify-write.

Key layout under a prefix (default `waymark:`), see each module for the fields:

    {p}rl:{key}              hash     rate-limit level          TTL period
    {p}sess:{id_hash}        hash     one browser session       TTL until it expires (+1 min)
    {p}sess-user:{user_id}   zset     a user's session hashes   TTL the latest absolute expiry
    {p}rf:{family_id}        hash     one refresh family        TTL until it expires (+1 min)
    {p}rf-user:{user_id}     zset     a user's family ids       TTL the latest absolute expiry
    {p}rt:{token_hash}       hash     token -> family           TTL the family's absolute expiry
    {p}rt-next:{token_hash}  string   raw successor of a        TTL the grace window
                                      rotated token

The scripts decide liveness from the stored times and the caller's `now`, like the SQL
adapters; TTLs only collect what is dead (see `waymark.infra.redis.lua`).

Scripts derive the index and family keys from values they read, so these adapters need a
single Redis server (or a primary behind Sentinel), not Redis Cluster.
"""

from __future__ import annotations

from waymark.infra.redis.client import create_redis
from waymark.infra.redis.rate_limiter import RedisRateLimiter
from waymark.infra.redis.refresh_tokens import RedisRefreshTokenStore
from waymark.infra.redis.sessions import RedisSessionStore

__all__ = ["RedisRateLimiter", "RedisRefreshTokenStore", "RedisSessionStore", "create_redis"]
