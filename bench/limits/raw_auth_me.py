"""Limit for `auth-me`: the app's work for `GET /api/v1/me` with a Bearer token, nothing more.

Per request, as `AuthService.from_bearer` in src/waymark/features/auth/service.py:

1. **verify** the access token: header (`alg` PS256, `typ` at+jwt, the app's `kid`), the
   PS256 signature with the app's public key (cryptography), then `iss`, `aud`, `exp`, `nbf`,
   `iat` with the app's leeway. Like the app (`AccessTokens.verify`), a token whose signature
   this process checked once is remembered (the whole token is the key; up to 4,096) and only
   its time claims are checked again, so both sides pay the RSA verification once per token;
2. **the refresh family is live**: `sid` is `f:<family id>`, and one `HMGET
   {prefix}rf:{family id} user_id revoked expires_at` (the app's key layout and fields, see
   `RedisRefreshTokenStore.is_live`) must show the token's subject, `revoked` 0 and
   `expires_at` not past. The command goes over one Redis connection in raw RESP
   (`bench/limits/_resp.py`), parsed by hiredis;
3. **one row**: the user, not disabled, with asyncpg (one round trip, no transaction, a pool
   of the app's size), and a token issued before `tokens_valid_after` is refused;
4. the row as JSON with msgspec, with the app's headers.

Anything that fails answers 401, as the app does (its body differs; the harness only
compares 200 answers).

Configuration: `database_url`, `pool_size`, `jwks` (the app's JWK Set), `issuer`,
`audience`, `leeway`, `redis_url`, `redis_prefix` (the run's `WAYMARK_REDIS__KEY_PREFIX`),
`headers` (the app's response headers for /api/v1/me, sent as they are but content-length).
"""

from __future__ import annotations

import base64
import time
import uuid
from datetime import datetime
from typing import Any

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
from bench.limits._resp import RespConnection, command

USER_SQL = (
    "SELECT id, email, display_name, email_verified_at IS NOT NULL, created_at,"
    " tokens_valid_after FROM users WHERE id = $1 AND disabled_at IS NULL"
)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_FAMILY_FIELDS = (b"user_id", b"revoked", b"expires_at")
VERIFIED_CACHE_SIZE = 4096
MAX_TOKEN_LENGTH = 4096


class Me(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str
    email_verified: bool
    created_at: datetime


class Header(msgspec.Struct):
    alg: str
    typ: str
    kid: str


class Claims(msgspec.Struct):
    iss: str
    aud: str
    sub: str
    iat: int
    nbf: int
    exp: int
    sid: str


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _public_key(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64(jwk["n"]), "big")
    e = int.from_bytes(_b64(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


async def _no_reset(_conn: Any) -> None:
    return None


config = load_config()
_jwk = config["jwks"]["keys"][0]  # the active key signs every new token
KID: str = _jwk["kid"]
key = _public_key(_jwk)
ISSUER: str = config["issuer"]
AUDIENCE: str = config["audience"]
LEEWAY: float = float(config["leeway"])
FAMILY_PREFIX: bytes = f"{config['redis_prefix']}rf:".encode()
_decode_header = msgspec.json.Decoder(Header).decode
_decode_claims = msgspec.json.Decoder(Claims).decode
_encode = msgspec.json.Encoder().encode
base_headers = encode_headers(config["headers"])
UNAUTHORIZED_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"12")]
verified: dict[str, Claims] = {}
pool: Any = None
redis: RespConnection | None = None


def _verify_signed(token: str) -> Claims | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    segments = token.split(".")
    if len(segments) != 3:
        return None
    head, payload, signature = segments
    try:
        header = _decode_header(_b64(head))
        if header.alg != "PS256" or header.typ != "at+jwt" or header.kid != KID:
            return None
        key.verify(_b64(signature), f"{head}.{payload}".encode(), _PSS, hashes.SHA256())
        return _decode_claims(_b64(payload))
    except Exception:
        return None


def verify(token: str, now: float) -> Claims | None:
    """The token's claims if it is valid at `now`, else None."""
    claims = verified.get(token)
    if claims is None:
        claims = _verify_signed(token)
        if claims is None:
            return None
        if len(verified) >= VERIFIED_CACHE_SIZE:
            del verified[next(iter(verified))]
        verified[token] = claims
    if (
        claims.iss != ISSUER
        or claims.aud != AUDIENCE
        or now >= claims.exp + LEEWAY
        or now < claims.nbf - LEEWAY
        or now < claims.iat - LEEWAY
    ):
        return None
    return claims


async def _startup() -> None:
    global pool, redis
    import asyncpg

    dsn = config["database_url"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=config["pool_size"],
        max_size=config["pool_size"],
        max_queries=2**31,
        reset=_no_reset,
    )
    redis = await RespConnection.open(config["redis_url"])


async def _shutdown() -> None:
    if redis is not None:
        redis.close()
    if pool is not None:
        await pool.close()


async def me(authorization: bytes) -> bytes | None:
    """The body for a valid Bearer token, or None (401)."""
    now = time.time()
    claims = verify(authorization.decode("latin-1").removeprefix("Bearer "), now)
    if claims is None:
        return None
    try:
        user_id = uuid.UUID(claims.sub)
    except ValueError:
        return None
    if str(user_id) != claims.sub:
        return None
    kind, _, family_id = claims.sid.partition(":")
    if kind != "f":
        return None
    assert redis is not None
    owner, revoked, expires = await redis.call(
        command(b"HMGET", FAMILY_PREFIX + family_id.encode(), *_FAMILY_FIELDS)
    )
    if (
        owner is None
        or owner.decode() != claims.sub
        or revoked != b"0"
        or expires is None
        or now > float(expires)
    ):
        return None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(USER_SQL, user_id)
    if row is None or int(claims.iat) < int(row[5].timestamp()):
        return None
    return _encode(Me(row[0], row[1], row[2], row[3], row[4]))


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, _startup, _shutdown)
        return
    if scope["path"] == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
        return
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    body = await me(authorization)
    if body is None:
        await respond(send, 401, UNAUTHORIZED_HEADERS, b"unauthorized")
        return
    await respond(send, 200, [*base_headers, (b"content-length", str(len(body)).encode())], body)
