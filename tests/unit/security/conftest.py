"""Keys and token services shared by the security tests.

RSA key generation takes tens of milliseconds, so the ring most tests verify against is made
once per session; tests that rotate or persist keys build their own.
"""

from __future__ import annotations

import pytest

from waymark.infra.security.access_tokens import AccessTokens
from waymark.infra.security.signing_keys import KeyRing

NOW = 1_800_000_000.0
ISSUER = "https://waymark.test"
AUDIENCE = "waymark-api"


@pytest.fixture(scope="session")
def ring() -> KeyRing:
    return KeyRing.generate(now=NOW - 3600, retain_for=1200)


@pytest.fixture(scope="session")
def tokens(ring: KeyRing) -> AccessTokens:
    return AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE)
