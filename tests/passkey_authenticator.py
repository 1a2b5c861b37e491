"""A SOFTWARE AUTHENTICATOR WRITTEN FOR THE TESTS (not a real one): it makes WebAuthn
registrations (attestation `none`) and assertions (ES256) as a platform authenticator would,
byte for byte per the WebAuthn Level 3 spec, so the API's negative cases can be crafted
(another origin, another rp id, no user verification, a counter that goes back, ...).
The real thing is tested in a real browser: tests/browser/test_passkeys.py drives
Chromium's virtual authenticator."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftwareAuthenticator:
    """One passkey (discoverable, ES256) kept in memory, for one relying party."""

    rp_id: str
    origin: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes = b""
    sign_count: int = 0
    aaguid: bytes = bytes(16)
    synced: bool = False
    """A synced passkey (iCloud Keychain, Google Password Manager...): backup eligible and
    backed up (the BE and BS flags); else bound to this device."""

    def _backup_flags(self) -> int:
        return BE | BS if self.synced else 0

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """What `navigator.credentials.create(options).toJSON()` gives."""
        self.user_handle = unb64(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        attested = (
            self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        auth_data = (
            rp_hash
            + bytes([UP | UV | AT | self._backup_flags()])
            + struct.pack(">I", self.sign_count)
            + attested
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._credential(
            {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal"],
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        verified: bool = True,
        sign_count: int | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """What `navigator.credentials.get(options).toJSON()` gives; the counter goes up
        by one unless `sign_count` says what to claim."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        flags = UP | (UV if verified else 0) | self._backup_flags()
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return self._credential(
            {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(self.user_handle),
            }
        )

    def _credential(self, response: dict[str, Any]) -> dict[str, Any]:
        """A `PublicKeyCredential` as its `toJSON()` gives it."""
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
