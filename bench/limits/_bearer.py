"""What the signed-in limits share: the caller of a request with a Bearer access token, found
the cheapest correct way, as `Authenticator.from_bearer` (src/waymark/features/auth/) finds it.

1. **verify** the access token: header (`alg` PS256, `typ` at+jwt, the app's `kid`), the
   PS256 signature with the app's public key (cryptography), then `iss`, `aud`, `exp`, `nbf`,
   `iat` with the app's leeway. Like the app (`AccessTokens.verify`), a token whose signature
   this process checked once is remembered (the whole token is the key; up to 4,096) and only
   its time claims are checked again, so both sides pay the RSA verification once per token;
2. **the refresh family is live**: `sid` is `f:<family id>`, and one `HMGET
   {prefix}rf:{family id} user_id revoked expires_at` (the app's key layout and fields, see
   `RedisRefreshTokenStore.is_live`) must show the token's subject, `revoked` 0 and
   `expires_at` not past. The command goes over one Redis connection in raw RESP
   (`bench/limits/_resp.py`), parsed by hiredis.

The account row (not disabled, `tokens_valid_after` not after the token's `iat`) is each
limit's to read, in whatever query it makes anyway: `issued_before` is the app's rule.

Configuration keys it reads: `jwks` (the app's JWK Set), `issuer`, `audience`, `leeway`,
`redis_prefix` (the run's `WAYMARK_REDIS__KEY_PREFIX`); `redis_url` at `open`.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.limits._asgi import Scope
from bench.limits._resp import RedisHolder, command

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_FAMILY_FIELDS = (b"user_id", b"revoked", b"expires_at")
VERIFIED_CACHE_SIZE = 4096
MAX_TOKEN_LENGTH = 4096


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


_decode_header = msgspec.json.Decoder(Header).decode
_decode_claims = msgspec.json.Decoder(Claims).decode


def issued_before(issued_at: int, not_before: datetime) -> bool:
    """The app's rule (`auth.authenticator.issued_before`): whole seconds, as JWT `iat`."""
    return int(issued_at) < int(not_before.timestamp())


class Bearer(RedisHolder):
    """Verifies the app's access tokens and checks their refresh family in Redis."""

    def __init__(self, config: dict[str, Any]) -> None:
        jwk = config["jwks"]["keys"][0]  # the active key signs every new token
        self.kid: str = jwk["kid"]
        self.key = _public_key(jwk)
        self.issuer: str = config["issuer"]
        self.audience: str = config["audience"]
        self.leeway = float(config["leeway"])
        self.family_prefix = f"{config['redis_prefix']}rf:".encode()
        self.verified: dict[str, Claims] = {}

    def _verify_signed(self, token: str) -> Claims | None:
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        segments = token.split(".")
        if len(segments) != 3:
            return None
        head, payload, signature = segments
        try:
            header = _decode_header(_b64(head))
            if header.alg != "PS256" or header.typ != "at+jwt" or header.kid != self.kid:
                return None
            self.key.verify(_b64(signature), f"{head}.{payload}".encode(), _PSS, hashes.SHA256())
            return _decode_claims(_b64(payload))
        except Exception:
            return None

    def verify(self, token: str, now: float) -> Claims | None:
        """The token's claims if it is valid at `now`, else None."""
        claims = self.verified.get(token)
        if claims is None:
            claims = self._verify_signed(token)
            if claims is None:
                return None
            if len(self.verified) >= VERIFIED_CACHE_SIZE:
                del self.verified[next(iter(self.verified))]
            self.verified[token] = claims
        if (
            claims.iss != self.issuer
            or claims.aud != self.audience
            or now >= claims.exp + self.leeway
            or now < claims.nbf - self.leeway
            or now < claims.iat - self.leeway
        ):
            return None
        return claims

    async def caller(self, authorization: bytes, now: float) -> tuple[uuid.UUID, Claims] | None:
        """The account id and claims of a valid token whose family is live, else None."""
        claims = self.verify(authorization.decode("latin-1").removeprefix("Bearer "), now)
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
        assert self.redis is not None
        owner, revoked, expires = await self.redis.call(
            command(b"HMGET", self.family_prefix + family_id.encode(), *_FAMILY_FIELDS)
        )
        if (
            owner is None
            or owner.decode() != claims.sub
            or revoked != b"0"
            or expires is None
            or now > float(expires)
        ):
            return None
        return user_id, claims


def authorization(scope: Scope) -> bytes:
    """The request's Authorization header, or b""."""
    return next((v for k, v in scope["headers"] if k == b"authorization"), b"")
