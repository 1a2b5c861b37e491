"""Secrets stored encrypted at rest: AES-256-GCM with a fresh 96-bit nonce per seal, the
associated data binding each sealed value to where it belongs (table, column, row), so a
value copied into another row fails to open. Any tamper raises `SecretUnreadable`.

The key (256 bits) lives in a private file beside the signing keys, created 0600 on first
use, as `signing_keys.KeyRing.open` does; the KMS with wrapped data keys comes later
(SECURITY.md, "Crypto and secrets"), behind the same two calls. A sealed value starts with
a format byte and the key's version, so that change can tell old values from new.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from waymark.infra.security.private_files import read_private, write_private

FORMAT: Final = 1
NONCE_BYTES: Final = 12


class SecretUnreadable(Exception):
    """A sealed value that does not open with this key and associated data: tampered,
    moved to another row, or sealed under another key. Fails closed."""


class _KeyFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    format: int = 1
    version: int
    key: str
    """Base64 of 32 random bytes."""


class SecretBox:
    def __init__(self, key: bytes, *, version: int = 1) -> None:
        if len(key) != 32:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        if not 0 < version < 256:
            raise ValueError("key version must be 1..255")
        self._aead = AESGCM(key)
        self.version = version

    @classmethod
    def generate(cls) -> SecretBox:
        """A box with a fresh key, in memory only (tests)."""
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def open(cls, path: Path) -> SecretBox:
        """The key stored at `path`, created (0600, random) if there is none; refuses a file
        group or others may read. Of several processes starting at once, one creates it."""
        try:
            return cls._read(path)
        except FileNotFoundError:
            pass
        key = AESGCM.generate_key(bit_length=256)
        stored = _KeyFile(version=1, key=base64.b64encode(key).decode("ascii"))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_private(path, msgspec.json.encode(stored) + b"\n", exclusive=True)
        except FileExistsError:
            return cls._read(path)
        return cls(key, version=1)

    @classmethod
    def _read(cls, path: Path) -> SecretBox:
        data, _ = read_private(path)
        try:
            stored = msgspec.json.decode(data, type=_KeyFile)
            key = base64.b64decode(stored.key, validate=True)
        except (msgspec.DecodeError, ValueError) as exc:
            raise ValueError(f"{path} is not a Waymark secret key file: {exc}") from None
        return cls(key, version=stored.version)

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        header = bytes([FORMAT, self.version])
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + aad)

    def unseal(self, sealed: bytes, *, aad: bytes) -> bytes:
        header, nonce = sealed[:2], sealed[2 : 2 + NONCE_BYTES]
        if len(sealed) < 2 + NONCE_BYTES + 16 or header != bytes([FORMAT, self.version]):
            raise SecretUnreadable("not sealed with this key")
        try:
            return self._aead.decrypt(nonce, sealed[2 + NONCE_BYTES :], header + aad)
        except InvalidTag:
            raise SecretUnreadable("tampered, moved, or sealed under another key") from None
