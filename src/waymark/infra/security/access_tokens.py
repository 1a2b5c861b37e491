"""Access tokens: short-lived JWTs (RFC 9068 `at+jwt`), signed by the keys of a
`signing_keys.KeyRing` and checked as RFC 8725 asks.

Algorithm: PS256 (RSASSA-PSS, SHA-256, RSA-2048), chosen by measurement. Verification runs on
every authenticated request and signing once per login or refresh, so the choice is the fastest
*asymmetric* verify (resource servers verify from the public JWKS; HS256 would hand them the
secret). `uv run python -m bench.micro.jwt_algorithms --seconds 1 --rounds 5`, 2026-11-23, on
the 2-core development machine (PyJWT 2.15.1, cryptography 50.0.2, OpenSSL 4.0.3; per CPU-second
of one thread, best of 5 rounds; "verify" is `jwt.decode` with every claim check):

    algorithm                 sign/s  verify/s  µs/verify  raw verify/s  token B
    EdDSA (Ed25519)           21,245     6,245      160.1         8,589      502
    ES256 (P-256)             23,366     7,615      131.3        12,008      502
    RS256 (RSA-2048)           3,159    12,232       81.8        35,238      758
    PS256 (RSA-2048)           3,540    12,566       79.6        32,341      758
    HS256 (reference only)    54,718    21,603       46.3       532,915      459

RSA verifies 3-4x faster than Ed25519 or P-256 here (a public exponent of 65537 is cheap); its
costs are slow signing (~0.3 ms, on logins and refreshes only) and 256 more bytes per request.
RS256 and PS256 are a tie (they swap places between runs); PS256 wins it because RSASSA-PSS has
a security proof and RFC 8017 recommends it over PKCS#1 v1.5 for new applications. The checks
below, done without PyJWT, verify in ~37 µs (26,900/s), against ~80 µs through `jwt.decode`.

The checks, in order, each failure the same `InvalidAccessToken` (answered alike, 401):
three canonical base64url segments; a header of exactly `alg`, `typ` and `kid` (so `jku`,
`x5u`, `jwk`, `x5c`, `crit` and anything else are refused, never read); `alg` the one
allow-listed algorithm (no `none`, no HS/RS confusion: the key type is fixed, never chosen by
the token); `typ` exactly `at+jwt` (an ID token or any other JWT is refused); `kid` a key of
the ring still inside its verification window; the signature; then `iss`, `aud`, `exp`, `nbf`,
`iat`, `jti`, `sub`, `sid` all present, with at most 60 s of clock leeway.

Verification is written here over `cryptography` rather than left to `jwt.decode`: PyJWT takes
"now" from the system clock (tests and the rest of Waymark pass it in), does not check `typ`,
and ignores header members it does not know instead of refusing them. Tokens are still
signed with PyJWT, and the tests verify them with PyJWT and the published JWKS, so the two
implementations keep each other honest. Refresh tokens are opaque random strings, not JWTs.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any, Final

import jwt
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from waymark.infra.security.signing_keys import ALGORITHM, KeyRing, SigningKey

TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 (a media type, RFC 9068, not a secret)
MAX_LEEWAY: Final = 60.0
"""RFC 8725 asks for a small leeway; docs/security.md caps it at 60 s."""
MAX_TOKEN_LENGTH: Final = 4096
"""Ours are ~780 characters; anything much longer is refused before any parsing."""
DEFAULT_CLIENT_ID: Final = "waymark"

_PADDING: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")


class InvalidAccessToken(Exception):
    """Any access token that is not valid, for whatever reason.

    The caller answers every one the same way (401), so a forger learns nothing about how
    close they came; `reason` says which check failed, for logs and tests.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid access token: {reason}")
        self.reason = reason


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The verified claims of an access token (RFC 9068 plus `sid`)."""

    iss: str
    aud: str
    sub: _Id
    """The user id."""
    client_id: _Id
    iat: int
    nbf: int
    exp: int
    jti: _Id
    sid: _Id
    """The browser session or refresh-token family this token was issued for: revoking that
    (logout, reuse detection) is checked against it."""
    amr: tuple[str, ...] = ()
    """How the sign-in was proved (RFC 8176: `pwd`, `fed`, `otp`, `mfa`, ...)."""
    acr: str = ""
    """`aal2` when a second factor was proved, else `aal1`."""


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    alg: str
    typ: str
    kid: str


VERIFIED_CACHE_SIZE = 4096
"""Verified access tokens remembered per process (a few MB at most)."""


class AccessTokens:
    """Issues and verifies access tokens signed by a `KeyRing`."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        lifetime: float = 600.0,
        leeway: float = MAX_LEEWAY,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY:g} seconds")
        if lifetime < 1:
            raise ValueError("lifetime must be at least one second")
        if keys.retain_for < lifetime + leeway:
            raise ValueError(
                "retired keys must keep verifying for at least one token lifetime plus leeway"
            )
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.lifetime = int(lifetime)
        self.leeway = leeway
        # Tokens whose signature this process has checked, with the key that checked it.
        # A client sends the same token on every request of its 10 minutes, and the RSA
        # verification is most of what `verify` costs; see `verify` for why this is safe.
        self._verified: dict[str, tuple[AccessClaims, SigningKey]] = {}

    def issue(
        self,
        subject: str,
        *,
        session_id: str,
        client_id: str = DEFAULT_CLIENT_ID,
        now: float,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token for user `subject`, valid from `now` for `lifetime` seconds.

        `session_id` names what the token hangs off: the browser session or, for API clients,
        the refresh-token family, so revoking either can also refuse its access tokens.
        """
        issued_at = int(now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "client_id": client_id,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self.lifetime,
            "jti": secrets.token_urlsafe(16),
            "sid": session_id,
        }
        # A deployment's own claims (the `claims` callback) never replace the registered ones.
        claims = {**(extra or {}), **claims}
        key = self.keys.active
        return jwt.encode(
            claims,
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": TOKEN_TYPE},
        )

    def verify(self, token: str, *, now: float) -> AccessClaims:
        """The claims of a valid access token; `InvalidAccessToken` for anything else.

        Does not know about revocation: the caller checks `sid` / `iat` against logouts.

        A token verified before skips the signature check: the cache key is the whole token,
        so the same string carries the same signature over the same bytes. What can change
        with time is re-checked on every hit: the verifying key must still be the very key
        object in the ring and within its window (a rotation or a replaced key file drops
        it), and the time claims must still hold. At most `VERIFIED_CACHE_SIZE` tokens are
        kept, oldest out first.
        """
        cached = self._verified.get(token)
        if cached is not None:
            claims, key = cached
            if self.keys.verification_key(key.kid, now=now) is key:
                self._check_claims(claims, now)
                return claims
            del self._verified[token]
        claims, key = self._verify_signed(token, now=now)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, key)
        return claims

    def _verify_signed(self, token: str, *, now: float) -> tuple[AccessClaims, SigningKey]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidAccessToken("too long")
        segments = token.split(".")
        if len(segments) != 3:
            raise InvalidAccessToken("not three segments")
        header_b64, payload_b64, signature_b64 = segments
        try:
            header = msgspec.json.decode(_b64decode(header_b64), type=_Header)
        except msgspec.DecodeError:
            raise InvalidAccessToken("header") from None
        if header.alg != ALGORITHM:
            raise InvalidAccessToken("alg")
        if header.typ != TOKEN_TYPE:
            raise InvalidAccessToken("typ")
        key = self.keys.verification_key(header.kid, now=now)
        if key is None:
            raise InvalidAccessToken("kid")
        signature = _b64decode(signature_b64)
        signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
        try:
            key.public_key.verify(signature, signing_input, _PADDING, hashes.SHA256())
        except InvalidSignature:
            raise InvalidAccessToken("signature") from None
        try:
            claims = msgspec.json.decode(_b64decode(payload_b64), type=AccessClaims)
        except msgspec.DecodeError:
            raise InvalidAccessToken("claims") from None
        self._check_claims(claims, now)
        return claims, key

    def _check_claims(self, claims: AccessClaims, now: float) -> None:
        if claims.iss != self.issuer:
            raise InvalidAccessToken("iss")
        if claims.aud != self.audience:
            raise InvalidAccessToken("aud")
        if now >= claims.exp + self.leeway:
            raise InvalidAccessToken("expired")
        if now < claims.nbf - self.leeway:
            raise InvalidAccessToken("not yet valid")
        if now < claims.iat - self.leeway:
            raise InvalidAccessToken("issued in the future")


def _b64decode(segment: str) -> bytes:
    """Strict base64url without padding: only the alphabet, and only the canonical encoding
    (the unused low bits of the last character zero), so one token has one spelling."""
    if not _SEGMENT.fullmatch(segment):
        raise InvalidAccessToken("base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAccessToken("base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise InvalidAccessToken("base64url")
    return raw
