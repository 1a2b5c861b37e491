"""The signing-key ring: rotation windows, the public JWK Set, and the key file."""

from __future__ import annotations

import json
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.security.conftest import AUDIENCE, ISSUER, NOW
from waymark.infra.security.access_tokens import AccessTokens, InvalidAccessToken
from waymark.infra.security.signing_keys import KeyRing

LIFETIME, LEEWAY = 600, 60
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_the_previous_key_verifies_until_its_window_ends_then_drops_out() -> None:
    ring = KeyRing.generate(now=NOW, retain_for=LIFETIME + LEEWAY)
    tokens = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE, lifetime=LIFETIME, leeway=LEEWAY)
    rotated_at = NOW + 100
    old_kid = ring.active.kid
    old_token = tokens.issue("u", session_id="s", now=rotated_at)  # last token of the old key

    new_key = ring.rotate(now=rotated_at)
    new_token = tokens.issue("u", session_id="s", now=rotated_at)
    assert ring.active is new_key
    assert new_key.kid != old_kid
    assert tokens.verify(new_token, now=rotated_at).sub == "u"

    # The old key outlives every token it signed, leeway included...
    window_end = rotated_at + LIFETIME + LEEWAY
    assert tokens.verify(old_token, now=window_end - 0.5).sub == "u"
    assert {k["kid"] for k in ring.jwks(now=window_end - 0.5)["keys"]} == {old_kid, new_key.kid}
    # ...and then stops verifying and leaves the JWK Set.
    with pytest.raises(InvalidAccessToken) as caught:
        tokens.verify(old_token, now=window_end)
    assert caught.value.reason == "kid"
    assert [k["kid"] for k in ring.jwks(now=window_end)["keys"]] == [new_key.kid]
    assert tokens.verify(tokens.issue("u", session_id="s", now=window_end), now=window_end).sub


def test_rotation_drops_keys_past_their_window() -> None:
    ring = KeyRing.generate(now=NOW, retain_for=1000)
    first = ring.active
    second = ring.rotate(now=NOW + 10)
    third = ring.rotate(now=NOW + 500)
    assert [k.kid for k in ring.keys] == [first.kid, second.kid, third.kid]
    assert [k.retired_at for k in ring.keys] == [NOW + 10, NOW + 500, None]
    ring.rotate(now=NOW + 1010)  # the first key's window ended at NOW + 1010
    assert first.kid not in {k.kid for k in ring.keys}
    still = ring.verification_key(second.kid, now=NOW + 1499)
    assert still is not None
    assert still.kid == second.kid
    assert ring.verification_key(second.kid, now=NOW + 1500) is None


def test_jwks_lists_every_verifying_key_and_only_public_members() -> None:
    ring = KeyRing.generate(now=NOW, retain_for=LIFETIME + LEEWAY)
    ring.rotate(now=NOW + 1)
    jwks = ring.jwks(now=NOW + 2)
    assert [k["kid"] for k in jwks["keys"]] == [ring.keys[1].kid, ring.keys[0].kid]
    for jwk in jwks["keys"]:
        assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
        assert not PRIVATE_MEMBERS & set(jwk)
        assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["e"]) == ("RSA", "sig", "PS256", "AQAB")
        # kid is the RFC 7638 thumbprint, as PyJWT computes it too.
        assert pyjwt.PyJWK(jwk).key_id == jwk["kid"]
    json.dumps(jwks)  # serialisable as is


def test_the_key_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "var" / "jwt-signing-keys.json"
    ring = KeyRing.open(path, now=NOW, retain_for=1200)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_bytes())
    assert [k["kid"] for k in stored["keys"]] == [ring.active.kid]
    assert stored["keys"][0]["private_key"].startswith("-----BEGIN PRIVATE KEY-----")

    again = KeyRing.open(path, now=NOW + 5, retain_for=1200)
    assert again.active.kid == ring.active.kid
    tokens = AccessTokens(again, issuer=ISSUER, audience=AUDIENCE)
    token = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE).issue("u", session_id="s", now=NOW)
    assert tokens.verify(token, now=NOW).sub == "u"
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary files left behind


def test_rotation_is_saved_and_other_processes_reload_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    writer = KeyRing.open(path, now=NOW, retain_for=1200)
    reader = KeyRing.open(path, now=NOW, retain_for=1200)
    assert reader.reload() is False  # unchanged

    new = writer.rotate(now=NOW + 60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert reader.reload() is True
    assert reader.active.kid == new.kid
    assert [k.kid for k in reader.keys] == [k.kid for k in writer.keys]
    assert KeyRing.open(path, now=NOW + 61, retain_for=1200).active.kid == new.kid
    assert sorted(os.listdir(tmp_path)) == [path.name]


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KeyRing.open(path, now=NOW, retain_for=1200)
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        KeyRing.open(path, now=NOW, retain_for=1200)


def test_a_key_file_with_a_wrong_kid_is_refused(tmp_path: Path) -> None:
    data = json.loads(KeyRing.generate(now=NOW, retain_for=1200).to_json())
    data["keys"][0]["kid"] = "chosen-by-hand"
    with pytest.raises(ValueError, match="kid does not match"):
        KeyRing.from_json(json.dumps(data), retain_for=1200)


def test_a_ring_round_trips_through_json() -> None:
    ring = KeyRing.generate(now=NOW, retain_for=1200)
    ring.rotate(now=NOW + 1)
    copy = KeyRing.from_json(ring.to_json(), retain_for=1200)
    assert [(k.kid, k.created_at, k.retired_at) for k in copy.keys] == [
        (k.kid, k.created_at, k.retired_at) for k in ring.keys
    ]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["keys"][0].update(alg="RS256"), "expected PS256"),
        (lambda d: d["keys"][0].update(retired_at=1.0), "exactly one active key"),
        (lambda d: d["keys"].append(dict(d["keys"][0])), "exactly one active key"),
        (lambda d: d.update(format=2), "not a Waymark signing-key file"),
        (lambda d: d["keys"][0].update(private_key="garbage"), "Unable to load PEM"),
    ],
)
def test_broken_key_files_are_refused(mutate: object, message: str) -> None:
    data = json.loads(KeyRing.generate(now=NOW, retain_for=1200).to_json())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        KeyRing.from_json(json.dumps(data), retain_for=1200)


def test_a_key_too_corrupt_to_sign_is_refused() -> None:
    """Loading skips OpenSSL's full RSA check (a trusted key, ~40 ms), so a key whose private
    exponents were damaged is caught by the one signature checked as it loads."""
    data = json.loads(KeyRing.generate(now=NOW, retain_for=1200).to_json())
    numbers = serialization.load_pem_private_key(
        data["keys"][0]["private_key"].encode(), None
    ).private_numbers()  # type: ignore[union-attr]
    damaged = rsa.RSAPrivateNumbers(
        numbers.p,
        numbers.q,
        numbers.d ^ 2,
        numbers.dmp1 ^ 2,
        numbers.dmq1,
        numbers.iqmp,
        numbers.public_numbers,
    ).private_key(unsafe_skip_rsa_key_validation=True)
    data["keys"][0]["private_key"] = damaged.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ValueError, match="do not verify"):
        KeyRing.from_json(json.dumps(data), retain_for=1200)


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    """First start with several workers: one creates the file, every one uses that key."""
    path = tmp_path / "keys.json"
    barrier = threading.Barrier(6)

    def start() -> str:
        barrier.wait()
        return KeyRing.open(path, now=NOW, retain_for=1200).active.kid

    with ThreadPoolExecutor(6) as pool:
        kids = set(pool.map(lambda _: start(), range(6)))
    assert kids == {KeyRing.open(path, now=NOW, retain_for=1200).active.kid}
    assert sorted(os.listdir(tmp_path)) == [path.name]
