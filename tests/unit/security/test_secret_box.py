"""AES-256-GCM at rest: the GCM spec's test case 16, the key file (0600, created once), and
every tamper or move failing closed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from waymark.infra.security.secret_box import SecretBox, SecretUnreadable


def test_gcm_spec_test_case_16() -> None:
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    plain = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    sealed = AESGCM(key).encrypt(iv, plain, aad)
    assert sealed[:-16].hex() == (
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    )
    assert sealed[-16:].hex() == "76fc6ece0f4e1768cddf8853bb2d551b"


def test_seal_unseal_and_every_tamper_fails_closed() -> None:
    box = SecretBox.generate()
    sealed = box.seal(b"secret", aad=b"mfa_totp.secret:row-1")
    assert box.unseal(sealed, aad=b"mfa_totp.secret:row-1") == b"secret"
    assert box.seal(b"secret", aad=b"x") != box.seal(b"secret", aad=b"x")  # fresh nonce
    with pytest.raises(SecretUnreadable):
        box.unseal(sealed, aad=b"mfa_totp.secret:row-2")  # moved to another row
    for index in range(len(sealed)):
        flipped = bytearray(sealed)
        flipped[index] ^= 0x01
        with pytest.raises(SecretUnreadable):
            box.unseal(bytes(flipped), aad=b"mfa_totp.secret:row-1")
    with pytest.raises(SecretUnreadable):
        SecretBox.generate().unseal(sealed, aad=b"mfa_totp.secret:row-1")


def test_key_file_created_private_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "mfa-secret.key"
    first = SecretBox.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = first.seal(b"x", aad=b"a")
    assert SecretBox.open(path).unseal(sealed, aad=b"a") == b"x"
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        SecretBox.open(path)
