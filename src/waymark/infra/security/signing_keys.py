"""The keys that sign access tokens: RSA key pairs named by their RFC 7638 thumbprint, held
in a ring of one active key (signs) and the recently retired (still verify), published as a
JWK Set, and kept in a private JSON file that rotation rewrites atomically.

Why RSA (PS256) and not a faster-signing curve: see `access_tokens`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from waymark.infra.security.private_files import file_stamp, read_private, write_private

ALGORITHM: Final = "PS256"
RSA_KEY_BITS: Final = 2048


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
            # The ring is the operator's (a file made 0600 by Waymark, or their secret), so
            # OpenSSL's full RSA consistency check (~40 ms a key, at every start and in every
            # test's app) is skipped, as cryptography allows for trusted keys. OpenSSL checks
            # each CRT signature itself as it signs (a faulty one would give the key away),
            # and one signature checked against the public half (~1 ms) refuses a key too
            # corrupt to sign at all.
            private = serialization.load_pem_private_key(
                entry.private_key.encode(), None, unsafe_skip_rsa_key_validation=True
            )
            if not isinstance(private, rsa.RSAPrivateKey):
                raise ValueError(f"key {entry.kid}: not an RSA private key")
            _check_signs(private, entry.kid)
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
            write_private(path, ring.to_json(), exclusive=True)
        except FileExistsError:  # another process created it first: use theirs
            return cls._read(path, retain_for=retain_for)
        ring._file_stamp = file_stamp(path)
        return ring

    @classmethod
    def _read(cls, path: Path, *, retain_for: float) -> KeyRing:
        data, stamp = read_private(path)
        ring = cls.from_json(data, retain_for=retain_for)
        ring.path, ring._file_stamp = path, stamp
        return ring

    def reload(self) -> bool:
        """Re-read the key file if another process rewrote it (rotation); True if it did."""
        if self.path is None:
            return False
        if file_stamp(self.path) == self._file_stamp:
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
            write_private(self.path, self.to_json(), exclusive=False)
            self._file_stamp = file_stamp(self.path)
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


def _check_signs(private: rsa.RSAPrivateKey, kid: str) -> None:
    """Refuse a key whose signatures its public half does not verify (a corrupt private
    part: the check OpenSSL's validation would have made, at a fraction of its cost)."""
    message = b"waymark signing-key check"
    signature = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    try:
        private.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ValueError(f"key {kid}: its signatures do not verify (a corrupt key)") from None
