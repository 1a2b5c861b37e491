"""ID tokens that must be refused, in the spirit of the OpenID relying-party conformance
tests. A certified provider never makes such tokens, so these come from the local
STAND-IN issuer (tests/integration/oidc/support.py, not a real provider): the test signs
each token itself with keys the stand-in publishes as its JWKS, and the stand-in's token
endpoint hands it back for whatever code Waymark redeems.

A token that passes every check reaches the account lookup: the identity is linked to
nobody, so the answer is 403 `identity-not-linked`; a refused token is 401
`external-sign-in-failed` before that."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration.oidc.support import CLIENT_ID, StandIn, query_of
from tests.web_helpers import Client, post_form

pytestmark = pytest.mark.backend("sqlite")  # token checks, whatever the database

NOT_LINKED = 403
REFUSED = 401


async def answer_with(browser: Client, standin: StandIn, make: Callable[[str], str]) -> int:
    """Start a sign-in with the stand-in, have it return `make(nonce)` as the ID token for
    the code, and come back to Waymark: the status of the callback."""
    started = await post_form(browser, "/login", "/auth/standin/start", {"next": "/"})
    query = query_of(str(started.headers["location"]))
    standin.id_token = make(query["nonce"])
    back = await browser.get(
        "/auth/standin/callback",
        params={"state": query["state"], "code": "any"},
        follow_redirects=False,
    )
    return back.status_code


def claims(standin: StandIn, nonce: str | None, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    found = {
        "iss": standin.base,
        "sub": "dana",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    }
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


@pytest.fixture
def key(standin: StandIn) -> str:
    standin.keys.clear()
    return standin.new_key()


def segment(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any], kid: str) -> str:
    return f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{segment(payload)}."


async def test_a_valid_token_passes_every_check(
    browser: Client, standin: StandIn, key: str
) -> None:
    status = await answer_with(
        browser, standin, lambda n: standin.sign(claims(standin, n), kid=key)
    )
    assert status == NOT_LINKED


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"iss": "https://elsewhere.example"}, id="wrong-iss"),
        pytest.param({"aud": "another-client"}, id="wrong-aud"),
        pytest.param(
            {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, id="expired"
        ),
        pytest.param(
            {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, id="future-iat"
        ),
        pytest.param({"aud": [CLIENT_ID, "other"]}, id="several-aud-no-azp"),
    ],
)
async def test_claims_that_do_not_hold_are_refused(
    browser: Client, standin: StandIn, key: str, changes: dict[str, Any]
) -> None:
    status = await answer_with(
        browser, standin, lambda n: standin.sign(claims(standin, n, **changes), kid=key)
    )
    assert status == REFUSED


async def test_a_missing_nonce_is_refused(browser: Client, standin: StandIn, key: str) -> None:
    status = await answer_with(
        browser, standin, lambda n: standin.sign(claims(standin, None), kid=key)
    )
    assert status == REFUSED


async def test_a_nonce_of_another_attempt_is_refused(
    browser: Client, standin: StandIn, key: str
) -> None:
    earlier = await post_form(browser, "/login", "/auth/standin/start", {"next": "/"})
    replayed = query_of(str(earlier.headers["location"]))["nonce"]
    status = await answer_with(
        browser, standin, lambda _: standin.sign(claims(standin, replayed), kid=key)
    )
    assert status == REFUSED


async def test_alg_none_is_refused(browser: Client, standin: StandIn, key: str) -> None:
    status = await answer_with(browser, standin, lambda n: unsigned(claims(standin, n), key))
    assert status == REFUSED


async def test_hs256_keyed_with_the_public_key_is_refused(
    browser: Client, standin: StandIn, key: str
) -> None:
    # The classic confusion: an HMAC made with the issuer's public key (its PEM) as secret.
    public = (
        standin.keys[key]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def confused(nonce: str) -> str:
        header = segment({"alg": "HS256", "typ": "JWT", "kid": key})
        signing_input = f"{header}.{segment(claims(standin, nonce))}"
        mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert await answer_with(browser, standin, confused) == REFUSED


async def test_an_unknown_kid_is_refused(browser: Client, standin: StandIn, key: str) -> None:
    stray = standin.new_key()
    token_key = standin.keys.pop(stray)  # signed with a key the JWKS never publishes

    def unknown(nonce: str) -> str:
        return jwt.encode(
            claims(standin, nonce), token_key, algorithm="RS256", headers={"kid": stray}
        )

    assert await answer_with(browser, standin, unknown) == REFUSED


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
    browser: Client, standin: StandIn, key: str
) -> None:
    other = standin.new_key()
    forged_key = standin.keys.pop(other)

    def forged(nonce: str) -> str:
        return jwt.encode(
            claims(standin, nonce), forged_key, algorithm="RS256", headers={"kid": key}
        )

    assert await answer_with(browser, standin, forged) == REFUSED


async def test_a_rotated_key_is_fetched_on_its_first_kid(
    browser: Client, standin: StandIn, key: str
) -> None:
    first = await answer_with(browser, standin, lambda n: standin.sign(claims(standin, n), kid=key))
    assert first == NOT_LINKED  # the JWKS is cached now
    rotated = standin.new_key()
    del standin.keys[key]
    status = await answer_with(
        browser, standin, lambda n: standin.sign(claims(standin, n), kid=rotated)
    )
    assert status == NOT_LINKED
