"""Limit for `auth-me`: the app's work for `GET /api/v1/me` with a Bearer token, nothing more.

Per request, as `Authenticator.from_bearer` in src/waymark/features/auth/authenticator.py
and the `me` route:

1. **the caller**: the access token verified and its refresh family checked live with one
   HMGET, as `bench/limits/_bearer.py` describes (the signature once per token, as the app);
2. **one row**: the user, not disabled, with asyncpg (one round trip, no transaction, a pool
   of the app's size), and a token issued before `tokens_valid_after` is refused;
3. the row as JSON with msgspec, with the app's headers.

Anything that fails answers 401, as the app does (its body differs; the harness only
compares 200 answers).

Configuration: `database_url`, `pool_size`, `headers` (the app's response headers for
/api/v1/me, sent as they are but content-length), `redis_url`, and what `_bearer.Bearer`
reads (`jwks`, `issuer`, `audience`, `leeway`, `redis_prefix`).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import msgspec

from bench.limits._asgi import (
    READY_HEADERS,
    Receive,
    Scope,
    Send,
    encode_headers,
    lifespan,
    load_config,
    respond,
)
from bench.limits._bearer import Bearer, authorization, issued_before

USER_SQL = (
    "SELECT id, email, display_name, time_zone, email_verified_at IS NOT NULL, created_at,"
    " tokens_valid_after FROM users WHERE id = $1 AND disabled_at IS NULL"
)


class Me(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    email_verified: bool
    created_at: datetime


async def _no_reset(_conn: Any) -> None:
    return None


config = load_config()
bearer = Bearer(config)
_encode = msgspec.json.Encoder().encode
base_headers = encode_headers(config["headers"])
UNAUTHORIZED_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"12")]
pool: Any = None


async def _startup() -> None:
    global pool
    import asyncpg

    dsn = config["database_url"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=config["pool_size"],
        max_size=config["pool_size"],
        max_queries=2**31,
        reset=_no_reset,
    )
    await bearer.open(config["redis_url"])


async def _shutdown() -> None:
    bearer.close()
    if pool is not None:
        await pool.close()


async def me(header: bytes) -> bytes | None:
    """The body for a valid Bearer token, or None (401)."""
    caller = await bearer.caller(header, time.time())
    if caller is None:
        return None
    user_id, claims = caller
    async with pool.acquire() as conn:
        row = await conn.fetchrow(USER_SQL, user_id)
    if row is None or issued_before(claims.iat, row[6]):
        return None
    return _encode(Me(row[0], row[1], row[2], row[3], row[4], row[5]))


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, _startup, _shutdown)
        return
    if scope["path"] == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
        return
    body = await me(authorization(scope))
    if body is None:
        await respond(send, 401, UNAUTHORIZED_HEADERS, b"unauthorized")
        return
    await respond(send, 200, [*base_headers, (b"content-length", str(len(body)).encode())], body)
