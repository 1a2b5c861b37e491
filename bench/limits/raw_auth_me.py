"""Limit for `auth-me`: verify the Bearer token's PS256 signature and expiry with the app's
public key, read the user's row with asyncpg (one round trip, no transaction), answer its JSON.

Configuration: `database_url`, `pool_size`, `jwks` (the app's JWK Set),
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
    NOT_FOUND_HEADERS,
    READY_HEADERS,
    Receive,
    Scope,
    Send,
    encode_headers,
    lifespan,
    load_config,
    respond,
)

USER_SQL = (
    "SELECT id, email, display_name, email_verified_at IS NOT NULL, created_at"
    " FROM users WHERE id = $1 AND disabled_at IS NULL"
)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class Me(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str
    email_verified: bool
    created_at: datetime


class Claims(msgspec.Struct):
    sub: str
    exp: int


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _public_key(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64(jwk["n"]), "big")
    e = int.from_bytes(_b64(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


async def _no_reset(_conn: Any) -> None:
    return None


config = load_config()
key = _public_key(config["jwks"]["keys"][0])  # the active key signs every new token
_decode_claims = msgspec.json.Decoder(Claims).decode
_encode = msgspec.json.Encoder().encode
base_headers = encode_headers(config["headers"])
pool: Any = None


async def _startup() -> None:
    global pool
    import asyncpg

    dsn = config["database_url"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=config["pool_size"],
        max_size=config["pool_size"],
        reset=_no_reset,
    )


async def _shutdown() -> None:
    if pool is not None:
        await pool.close()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, _startup, _shutdown)
        return
    if scope["path"] == "/readyz":
        await respond(send, 200, READY_HEADERS, b"ok")
        return
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    token = authorization.decode().removeprefix("Bearer ")
    head, payload, signature = token.split(".")
    try:
        key.verify(_b64(signature), f"{head}.{payload}".encode(), _PSS, hashes.SHA256())
    except Exception:
        await respond(send, 401, NOT_FOUND_HEADERS, b"not found")
        return
    claims = _decode_claims(_b64(payload))
    if claims.exp < time.time():
        await respond(send, 401, NOT_FOUND_HEADERS, b"not found")
        return
    async with pool.acquire() as conn:
        row = await conn.fetchrow(USER_SQL, uuid.UUID(claims.sub))
    body = _encode(Me(row[0], row[1], row[2], row[3], row[4]))
    await respond(send, 200, [*base_headers, (b"content-length", str(len(body)).encode())], body)
