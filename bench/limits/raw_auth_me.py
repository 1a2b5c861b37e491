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

Configuration: what `bench/limits/_signed_in.py` reads (`headers`: the app's response
headers for /api/v1/me).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from bench.limits._asgi import Receive, Scope
from bench.limits._bearer import issued_before
from bench.limits._signed_in import UNAUTHORIZED, Answer, SignedInLimit

USER_SQL = (
    "SELECT id, email, display_name, time_zone, email_verified_at IS NOT NULL, platform_role,"
    " team_reminders, weekly_digest, created_at, tokens_valid_after FROM users"
    " WHERE id = $1 AND disabled_at IS NULL"
)


class Me(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    email_verified: bool
    platform_role: str
    team_reminders: bool
    weekly_digest: bool
    created_at: datetime


limit = SignedInLimit()
_encode = msgspec.json.Encoder().encode


async def me(scope: Scope, receive: Receive) -> Answer:
    caller = await limit.caller(scope)
    if caller is None:
        return UNAUTHORIZED
    user_id, claims = caller
    async with limit.pool.acquire() as conn:
        row = await conn.fetchrow(USER_SQL, user_id)
    if row is None or issued_before(claims.iat, row[9]):
        return UNAUTHORIZED
    return limit.ok(_encode(Me(*row[:9])))


app = limit.serve(me)
