"""Rotation in a fleet: every process shares the key file; one rotates, the others follow."""

from __future__ import annotations

import time
from pathlib import Path

from waymark.infra.security.access_tokens import AccessTokens
from waymark.infra.security.signing_keys import KeyRing

RETAIN = 1200.0


def _tokens(ring: KeyRing) -> AccessTokens:
    return AccessTokens(ring, issuer="waymark", audience="waymark-api")


def test_a_token_signed_with_a_new_key_verifies_in_a_process_that_has_not_reloaded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    now = time.time()
    worker_a = KeyRing.open(path, now=now, retain_for=RETAIN)
    worker_b = KeyRing.open(path, now=now, retain_for=RETAIN)
    operator = KeyRing.open(path, now=now, retain_for=RETAIN)
    old_kid = worker_a.active.kid

    new = operator.rotate(now=now + 1)  # `waymark keys rotate`
    assert worker_a.reload()  # A's periodic reload saw it and signs with the new key
    token = _tokens(worker_a).issue("user-1", session_id="f:fam", now=now + 2)
    assert worker_b.active.kid == old_kid  # B has not reloaded yet...
    claims = _tokens(worker_b).verify(token, now=now + 3)  # ...yet verifies: unknown kid rereads
    assert claims.sub == "user-1"
    assert worker_b.active.kid == new.kid


def test_tokens_of_the_retired_key_keep_verifying_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    now = time.time()
    ring = KeyRing.open(path, now=now, retain_for=RETAIN)
    old_token = _tokens(ring).issue("user-2", session_id="f:fam", now=now)
    ring.rotate(now=now + 10)
    assert _tokens(ring).verify(old_token, now=now + 20).sub == "user-2"
    jwks_kids = {k["kid"] for k in ring.jwks(now=now + 20)["keys"]}
    assert len(jwks_kids) == 2
