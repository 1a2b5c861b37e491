"""Issuing and verifying access tokens: claims, header, leeway, and agreement with PyJWT."""

from __future__ import annotations

import base64
import json

import jwt as pyjwt
import pytest

from tests.unit.security.conftest import AUDIENCE, ISSUER, NOW
from waymark.infra.security import access_tokens as access_tokens_module
from waymark.infra.security.access_tokens import (
    MAX_LEEWAY,
    AccessClaims,
    AccessTokens,
    InvalidAccessToken,
)
from waymark.infra.security.signing_keys import ALGORITHM, KeyRing


def header_of(token: str) -> dict[str, object]:
    head = token.split(".")[0]
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return result


def test_an_issued_token_carries_every_required_claim(tokens: AccessTokens) -> None:
    token = tokens.issue("user-1", session_id="family-9", now=NOW + 0.7)
    claims = tokens.verify(token, now=NOW + 1)
    assert claims == AccessClaims(
        iss=ISSUER, aud=AUDIENCE, sub="user-1", client_id="waymark", iat=int(NOW),
        nbf=int(NOW), exp=int(NOW) + 600, jti=claims.jti, sid="family-9",
    )  # fmt: skip
    assert len(claims.jti) >= 22  # 128 random bits
    assert header_of(token) == {"alg": ALGORITHM, "typ": "at+jwt", "kid": tokens.keys.active.kid}


def test_every_token_gets_its_own_jti(tokens: AccessTokens) -> None:
    issued = [tokens.issue("u", session_id="s", now=NOW) for _ in range(20)]
    jtis = {tokens.verify(token, now=NOW).jti for token in issued}
    assert len(jtis) == 20


def test_the_token_is_valid_for_its_lifetime_plus_the_leeway(tokens: AccessTokens) -> None:
    token = tokens.issue("u", session_id="s", now=NOW)
    exp = int(NOW) + 600
    tokens.verify(token, now=exp - 1)
    tokens.verify(token, now=exp)  # expired, but within the 60 s leeway
    tokens.verify(token, now=exp + 59.9)
    with pytest.raises(InvalidAccessToken) as caught:
        tokens.verify(token, now=exp + 60)
    assert caught.value.reason == "expired"


def test_a_token_from_a_slightly_fast_clock_is_accepted(tokens: AccessTokens) -> None:
    token = tokens.issue("u", session_id="s", now=NOW + 59)
    tokens.verify(token, now=NOW)  # nbf and iat 59 s ahead: within leeway
    with pytest.raises(InvalidAccessToken) as caught:
        tokens.verify(tokens.issue("u", session_id="s", now=NOW + 61), now=NOW)
    assert caught.value.reason == "not yet valid"


def test_a_smaller_leeway_is_honoured(ring: KeyRing) -> None:
    strict = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE, leeway=5)
    token = strict.issue("u", session_id="s", now=NOW)
    strict.verify(token, now=NOW + 604)
    with pytest.raises(InvalidAccessToken):
        strict.verify(token, now=NOW + 605)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"leeway": MAX_LEEWAY + 1}, "leeway"),
        ({"leeway": -1}, "leeway"),
        ({"lifetime": 0}, "lifetime"),
        ({"lifetime": 1200}, "token lifetime plus leeway"),  # ring retains keys 1200 s
        ({"issuer": ""}, "issuer"),
    ],
)
def test_unsafe_configurations_are_refused(
    ring: KeyRing, kwargs: dict[str, object], message: str
) -> None:
    options: dict[str, object] = {"issuer": ISSUER, "audience": AUDIENCE, **kwargs}
    with pytest.raises(ValueError, match=message):
        AccessTokens(ring, **options)  # type: ignore[arg-type]


def test_pyjwt_verifies_our_tokens_from_the_published_jwks(tokens: AccessTokens) -> None:
    """A resource server using any standard library and /.well-known/jwks.json."""
    token = tokens.issue("user-1", session_id="s", now=NOW)
    jwk_set = pyjwt.PyJWKSet.from_dict(tokens.keys.jwks(now=NOW))
    key = jwk_set[header_of(token)["kid"]]  # type: ignore[index]
    claims = pyjwt.decode(
        token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )  # fmt: skip
    assert claims["sub"] == "user-1"


def test_we_verify_tokens_pyjwt_signs(tokens: AccessTokens) -> None:
    key = tokens.keys.active
    token = pyjwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "client_id": "c", "iat": int(NOW),
         "nbf": int(NOW), "exp": int(NOW) + 60, "jti": "j", "sid": "s", "extra": [1, 2]},
        key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "at+jwt"},
    )  # fmt: skip
    assert tokens.verify(token, now=NOW).sub == "u"  # unknown claims are ignored


def _counting(tokens: AccessTokens, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each full (signature-checking) verification `tokens` performs."""
    checked: list[str] = []
    full = tokens._verify_signed

    def counted(token: str, *, now: float) -> tuple[AccessClaims, object]:
        checked.append(token)
        return full(token, now=now)

    monkeypatch.setattr(tokens, "_verify_signed", counted)
    return checked


def test_a_token_verified_once_skips_the_signature_check_after(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE)
    checked = _counting(tokens, monkeypatch)
    token = tokens.issue("u", session_id="s", now=NOW)
    first = tokens.verify(token, now=NOW)
    assert [tokens.verify(token, now=NOW + n) for n in range(1, 4)] == [first] * 3
    assert checked == [token]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(InvalidAccessToken):
        tokens.verify(flipped, now=NOW)  # another string: checked in full, and refused
    assert checked == [token, flipped]


def test_a_remembered_token_still_expires(ring: KeyRing) -> None:
    tokens = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE)
    token = tokens.issue("u", session_id="s", now=NOW)
    tokens.verify(token, now=NOW)
    with pytest.raises(InvalidAccessToken) as caught:
        tokens.verify(token, now=NOW + 600 + MAX_LEEWAY)
    assert caught.value.reason == "expired"


def test_a_remembered_token_dies_with_its_key() -> None:
    ring = KeyRing.generate(now=NOW, retain_for=660)
    tokens = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE)
    token = tokens.issue("u", session_id="s", now=NOW)
    tokens.verify(token, now=NOW)
    ring.rotate(now=NOW + 1)
    ring.rotate(now=NOW + 700)  # the first key's window is over: it leaves the ring
    with pytest.raises(InvalidAccessToken) as caught:
        tokens.verify(token, now=NOW + 200)
    assert caught.value.reason == "kid"


def test_the_cache_of_verified_tokens_is_bounded(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_tokens_module, "VERIFIED_CACHE_SIZE", 3)
    tokens = AccessTokens(ring, issuer=ISSUER, audience=AUDIENCE)
    checked = _counting(tokens, monkeypatch)
    issued = [tokens.issue("u", session_id="s", now=NOW) for _ in range(5)]
    for token in issued:
        tokens.verify(token, now=NOW)
    tokens.verify(issued[0], now=NOW)  # the oldest was let go: checked again
    tokens.verify(issued[4], now=NOW)  # the newest is still known
    assert checked == [*issued, issued[0]]
