"""Access tokens: short-lived JWTs (RFC 9068 `at+jwt`) checked as RFC 8725 asks, and the
ring of rotating keys that signs them.

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

The checks, in order, each failure the same `InvalidToken` (401) to the client:
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
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import jwt
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from waymark.kernel.errors import WaymarkError

ALGORITHM: Final = "PS256"
TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 (a media type, RFC 9068, not a secret)
MAX_LEEWAY: Final = 60.0
"""RFC 8725 asks for a small leeway; SECURITY.md caps it at 60 s."""
RSA_KEY_BITS: Final = 2048
MAX_TOKEN_LENGTH: Final = 4096
"""Ours are ~780 characters; anything much longer is refused before any parsing."""
DEFAULT_CLIENT_ID: Final = "waymark"

_PADDING: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 scope-token


class InvalidToken(WaymarkError):
    """Any access token that is not valid, for whatever reason.

    Clients see one status, code and title whichever check failed, so a forger learns nothing
    about how close they came; `reason` says which check it was, for logs and tests.
    """

    status = 401
    code = "invalid-token"
    title = "Invalid or expired access token"

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
        self.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'  # RFC 6750


# -- Claims -----------------------------------------------------------------------------------

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
    scope: str = ""
    """Space-separated scopes (RFC 9068 / RFC 8693)."""

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    alg: str
    typ: str
    kid: str


# -- Keys -------------------------------------------------------------------------------------


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One RSA key pair. `kid` is its RFC 7638 thumbprint, so every process that holds the same
    key names it the same way."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    created_at: float
    retired_at: float | None = None
    """When a newer key took over signing; it keeps verifying for the ring's `retain_for`."""
    kid: str = field(init=False)
    public_key: rsa.RSAPublicKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        public = self.private_key.public_key()
        if public.key_size < RSA_KEY_BITS:
            raise ValueError(f"RSA signing keys need at least {RSA_KEY_BITS} bits")
        numbers = public.public_numbers()
        members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
        thumbprint = hashlib.sha256(msgspec.json.encode(members, order="sorted")).digest()
        object.__setattr__(self, "public_key", public)
        object.__setattr__(
            self, "kid", base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode("ascii")
        )

    @classmethod
    def generate(cls, *, now: float) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        return cls(key, created_at=now)

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (RFC 7517): what `/.well-known/jwks.json` lists."""
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")


class _StoredKey(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kid: str
    alg: str
    private_key: str
    """PKCS#8 PEM."""
    created_at: float
    retired_at: float | None = None


class _KeyFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    format: Literal[1] = 1
    keys: list[_StoredKey]


class KeyRing:
    """The signing keys: one active (signs), and the recently retired (still verify).

    `retain_for` is how long a retired key keeps verifying: at least one access-token
    lifetime plus leeway (`AccessTokens` refuses less), so rotation never cuts a token short.
    After that the key leaves the ring and the JWK Set.

    The embedded profile keeps the ring in a JSON file (`open`), created 0600 on first start;
    production can hand the same JSON in from a secret (`from_json`). Rotation writes the file
    atomically; other processes pick it up with `reload()`.
    """

    def __init__(
        self, keys: Iterable[SigningKey], *, retain_for: float, path: Path | None = None
    ) -> None:
        if retain_for <= 0:
            raise ValueError("retain_for must be positive")
        self.retain_for = retain_for
        self.path = path
        self._file_stamp: tuple[int, int, int] | None = None
        self._set_keys(tuple(keys))

    @classmethod
    def generate(cls, *, now: float, retain_for: float) -> KeyRing:
        """A ring of one fresh key, in memory only."""
        return cls([SigningKey.generate(now=now)], retain_for=retain_for)

    @classmethod
    def from_json(cls, data: bytes | str, *, retain_for: float) -> KeyRing:
        """A ring from the key-file format, e.g. a secret mounted by the orchestrator."""
        try:
            stored = msgspec.json.decode(data, type=_KeyFile)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a Waymark signing-key file: {exc}") from None
        keys = []
        for entry in stored.keys:
            if entry.alg != ALGORITHM:
                raise ValueError(f"key {entry.kid}: algorithm {entry.alg}, expected {ALGORITHM}")
            private = serialization.load_pem_private_key(entry.private_key.encode(), None)
            if not isinstance(private, rsa.RSAPrivateKey):
                raise ValueError(f"key {entry.kid}: not an RSA private key")
            key = SigningKey(private, created_at=entry.created_at, retired_at=entry.retired_at)
            if key.kid != entry.kid:
                raise ValueError(f"key {entry.kid}: kid does not match the key ({key.kid})")
            keys.append(key)
        return cls(keys, retain_for=retain_for)

    @classmethod
    def open(cls, path: Path, *, now: float, retain_for: float) -> KeyRing:
        """The ring stored at `path`, created (mode 0600, one new key) if there is none.

        Refuses a file that group or others may read, as ssh does with private keys.
        When several processes start at once, exactly one creates the file and all use it.
        """
        try:
            return cls._read(path, retain_for=retain_for)
        except FileNotFoundError:
            pass
        ring = cls([SigningKey.generate(now=now)], retain_for=retain_for, path=path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _write_private(path, ring.to_json(), exclusive=True)
        except FileExistsError:  # another process created it first: use theirs
            return cls._read(path, retain_for=retain_for)
        ring._file_stamp = _stamp(path)
        return ring

    @classmethod
    def _read(cls, path: Path, *, retain_for: float) -> KeyRing:
        data, stamp = _read_private(path)
        ring = cls.from_json(data, retain_for=retain_for)
        ring.path, ring._file_stamp = path, stamp
        return ring

    def reload(self) -> bool:
        """Re-read the key file if another process rewrote it (rotation); True if it did."""
        if self.path is None:
            return False
        if _stamp(self.path) == self._file_stamp:
            return False
        fresh = self._read(self.path, retain_for=self.retain_for)
        self._set_keys(fresh.keys)
        self._file_stamp = fresh._file_stamp
        return True

    def to_json(self) -> bytes:
        stored = _KeyFile(
            keys=[
                _StoredKey(
                    kid=key.kid,
                    alg=ALGORITHM,
                    private_key=key.private_pem(),
                    created_at=key.created_at,
                    retired_at=key.retired_at,
                )
                for key in self._keys
            ]
        )
        return msgspec.json.format(msgspec.json.encode(stored), indent=2) + b"\n"

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key held, oldest first (retired keys past their window may linger until the
        next rotation, but no longer verify)."""
        return self._keys

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._active

    def verification_key(self, kid: str, *, now: float) -> SigningKey | None:
        """The key named `kid` if it may verify a token at `now`, else None.

        An unknown kid re-checks the key file once (a stat): another process may have rotated
        and already signed with the new key before this one's periodic reload.
        """
        key = self._by_kid.get(kid)
        if key is None and self.reload():
            key = self._by_kid.get(kid)
        if key is None or (key.retired_at is not None and now >= key.retired_at + self.retain_for):
            return None
        return key

    def rotate(self, *, now: float) -> SigningKey:
        """Start signing with a new key; the previous one retires (still verifying) and keys
        past their window are dropped. Saves the file when the ring has one."""
        new = SigningKey.generate(now=now)
        kept = [
            key if key.retired_at is not None else replace(key, retired_at=now)
            for key in self._keys
            if key.retired_at is None or now < key.retired_at + self.retain_for
        ]
        self._set_keys((*kept, new))
        if self.path is not None:
            _write_private(self.path, self.to_json(), exclusive=False)
            self._file_stamp = _stamp(self.path)
        return new

    def jwks(self, *, now: float) -> dict[str, list[dict[str, str]]]:
        """The public JWK Set (RFC 7517) of every key that verifies at `now`."""
        return {
            "keys": [
                key.public_jwk()
                for key in reversed(self._keys)  # the active key first
                if self.verification_key(key.kid, now=now) is not None
            ]
        }

    def _set_keys(self, keys: tuple[SigningKey, ...]) -> None:
        active = [key for key in keys if key.retired_at is None]
        if len(active) != 1:
            raise ValueError(f"a key ring needs exactly one active key, found {len(active)}")
        by_kid = {key.kid: key for key in keys}
        if len(by_kid) != len(keys):
            raise ValueError("duplicate kid in the key ring")
        self._keys = tuple(sorted(keys, key=lambda k: k.created_at))
        self._by_kid = by_kid
        self._active = active[0]


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_private(path: Path) -> tuple[bytes, tuple[int, int, int]]:
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(file.fileno())
        if st.st_mode & 0o077:
            raise PermissionError(
                f"{path} holds private keys but group or others may read it: chmod 600 it"
            )
        return file.read(), (st.st_ino, st.st_mtime_ns, st.st_size)


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write `data` readable by the owner only, never leaving a partial file at `path`:
    a private temporary file, then a link (`exclusive`: fails if `path` exists) or a rename."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if exclusive:
            os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# -- Tokens -----------------------------------------------------------------------------------


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
        scopes: Iterable[str] = (),
        client_id: str = DEFAULT_CLIENT_ID,
        now: float,
    ) -> str:
        """A signed access token for user `subject`, valid from `now` for `lifetime` seconds.

        `session_id` names what the token hangs off: the browser session or, for API clients,
        the refresh-token family, so revoking either can also refuse its access tokens.
        """
        scope_list = list(scopes)
        if not all(_SCOPE_TOKEN.fullmatch(scope) for scope in scope_list):
            raise ValueError("a scope is one or more printable ASCII characters, no spaces")
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
        if scope_list:
            claims["scope"] = " ".join(scope_list)
        key = self.keys.active
        return jwt.encode(
            claims,
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": TOKEN_TYPE},
        )

    def verify(self, token: str, *, now: float) -> AccessClaims:
        """The claims of a valid access token; `InvalidToken` for anything else.

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
            raise InvalidToken("too long")
        segments = token.split(".")
        if len(segments) != 3:
            raise InvalidToken("not three segments")
        header_b64, payload_b64, signature_b64 = segments
        try:
            header = msgspec.json.decode(_b64decode(header_b64), type=_Header)
        except msgspec.DecodeError:
            raise InvalidToken("header") from None
        if header.alg != ALGORITHM:
            raise InvalidToken("alg")
        if header.typ != TOKEN_TYPE:
            raise InvalidToken("typ")
        key = self.keys.verification_key(header.kid, now=now)
        if key is None:
            raise InvalidToken("kid")
        signature = _b64decode(signature_b64)
        signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
        try:
            key.public_key.verify(signature, signing_input, _PADDING, hashes.SHA256())
        except InvalidSignature:
            raise InvalidToken("signature") from None
        try:
            claims = msgspec.json.decode(_b64decode(payload_b64), type=AccessClaims)
        except msgspec.DecodeError:
            raise InvalidToken("claims") from None
        self._check_claims(claims, now)
        return claims, key

    def _check_claims(self, claims: AccessClaims, now: float) -> None:
        if claims.iss != self.issuer:
            raise InvalidToken("iss")
        if claims.aud != self.audience:
            raise InvalidToken("aud")
        if now >= claims.exp + self.leeway:
            raise InvalidToken("expired")
        if now < claims.nbf - self.leeway:
            raise InvalidToken("not yet valid")
        if now < claims.iat - self.leeway:
            raise InvalidToken("issued in the future")


def _b64decode(segment: str) -> bytes:
    """Strict base64url without padding: only the alphabet, and only the canonical encoding
    (the unused low bits of the last character zero), so one token has one spelling."""
    if not _SEGMENT.fullmatch(segment):
        raise InvalidToken("base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise InvalidToken("base64url")
    return raw
