"""A corpus of forged and invalid access tokens (RFC 8725 attacks): every one is refused with
the same `InvalidAccessToken`, and `reason` shows the intended check is the one that caught it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.unit.security.conftest import AUDIENCE, ISSUER, NOW
from waymark.infra.security.access_tokens import AccessTokens, InvalidAccessToken
from waymark.infra.security.signing_keys import ALGORITHM, KeyRing, SigningKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def encode_json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class Forge:
    """What an attacker has (public keys, their own keys, one genuine token) and, for the
    tokens that test claim checks, our signing key (tokens we might mistakenly have signed)."""

    tokens: AccessTokens
    key: SigningKey
    attacker_rsa: rsa.RSAPrivateKey
    attacker_ec: ec.EllipticCurvePrivateKey
    impostor: SigningKey
    """A different RSA key presented under our kid."""
    genuine: str

    def claims(self, **changes: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "client_id": "waymark",
            "iat": int(NOW), "nbf": int(NOW), "exp": int(NOW) + 600,
            "jti": "jti-1", "sid": "session-1",
        }  # fmt: skip
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def header(self, **changes: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": ALGORITHM, "typ": "at+jwt", "kid": self.key.kid}
        header.update(changes)
        return {k: v for k, v in header.items() if v is not None}

    def signed(
        self, header: dict[str, Any], claims: dict[str, Any], private: Any | None = None
    ) -> str:
        """Sign with PyJWT, by default with our key, exactly the header given."""
        alg = header["alg"]
        extra = {k: v for k, v in header.items() if k != "alg"}
        key = self.key.private_key if private is None else private
        token = pyjwt.encode(claims, key, algorithm=alg, headers=extra)
        # PyJWT adds nothing but `alg` and the headers passed; drop `typ` when asked.
        if "typ" not in header:
            head, rest = token.split(".", 1)
            decoded = json.loads(unb64(head))
            decoded.pop("typ", None)
            return encode_json(decoded) + "." + rest  # signature now stale, as intended
        return token

    def pss_signed(self, header: dict[str, Any], payload: Any) -> str:
        """Signed by our key with the allow-listed algorithm, but any JSON (or raw bytes) as
        the payload and any JSON header: PyJWT refuses some of the shapes these tests need."""
        body = b64(payload) if isinstance(payload, bytes) else encode_json(payload)
        signing_input = f"{encode_json(header)}.{body}"
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = self.key.private_key.sign(signing_input.encode(), pss, hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    def hmac_signed(self, header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
        """HS256 with any bytes as the secret (PyJWT refuses PEM keys as HMAC secrets)."""
        signing_input = f"{encode_json(header)}.{encode_json(claims)}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"

    def public_pem(self) -> bytes:
        return self.key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _flip_signature_bit(f: Forge) -> str:
    head, payload, sig = f.genuine.split(".")
    raw = bytearray(unb64(sig))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{b64(bytes(raw))}"


def _flip_payload_bit(f: Forge) -> str:
    head, payload, sig = f.genuine.split(".")
    raw = bytearray(unb64(payload))
    at = raw.index(b"user-1") + 5
    raw[at] ^= 0x01  # sub "user-1" becomes "user-0"
    return f"{head}.{b64(bytes(raw))}.{sig}"


def _swap_payload(f: Forge) -> str:
    """Another (validly signed) token's payload under this token's signature."""
    head, _, sig = f.genuine.split(".")
    other = f.tokens.issue("admin", session_id="s", now=NOW)
    return f"{head}.{other.split('.')[1]}.{sig}"


def _non_canonical_signature(f: Forge) -> str:
    # 256 bytes take 342 characters, the last carrying 4 unused bits: set one of them.
    head, payload, sig = f.genuine.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(sig[-1]) | 0x01]
    assert unb64(sig[:-1] + last) == unb64(sig)  # decodes to the very same signature
    return f"{head}.{payload}.{sig[:-1]}{last}"


def _attacker_jwk(f: Forge) -> dict[str, Any]:
    return json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(f.attacker_rsa.public_key()))


CORPUS: dict[str, tuple[Callable[[Forge], str], str | None]] = {
    # -- alg ------------------------------------------------------------------------------------
    "alg none, no signature": (
        lambda f: f"{encode_json(f.header(alg='none'))}.{encode_json(f.claims())}.", "alg"),
    "alg none, genuine signature kept": (
        lambda f: f"{encode_json(f.header(alg='none'))}.{f.genuine.split('.', 1)[1]}", "alg"),
    "alg None (capitalised)": (
        lambda f: f"{encode_json(f.header(alg='None'))}.{encode_json(f.claims())}.", "alg"),
    "alg ps256 (lower case)": (
        lambda f: f"{encode_json(f.header(alg='ps256'))}.{f.genuine.split('.', 1)[1]}", "alg"),
    "HS256 keyed with our public key PEM (RS/HS confusion)": (
        lambda f: f.hmac_signed(f.header(alg="HS256"), f.claims(), f.public_pem()), "alg"),
    "HS256 keyed with our public JWK": (
        lambda f: f.hmac_signed(
            f.header(alg="HS256"), f.claims(), json.dumps(f.key.public_jwk()).encode()
        ), "alg"),
    "HS256 keyed with the modulus bytes": (
        lambda f: f.hmac_signed(
            f.header(alg="HS256"), f.claims(),
            f.key.public_key.public_numbers().n.to_bytes(256, "big"),
        ), "alg"),
    "RS256 signed by our own key (not the allow-listed PSS)": (
        lambda f: f.signed(f.header(alg="RS256"), f.claims()), "alg"),
    "ES256 by an attacker key under our kid": (
        lambda f: f.signed(f.header(alg="ES256"), f.claims(), f.attacker_ec), "alg"),
    # -- kid ------------------------------------------------------------------------------------
    "unknown kid": (lambda f: f.signed(f.header(kid="no-such-key"), f.claims()), "kid"),
    "empty kid": (lambda f: f.signed(f.header(kid=""), f.claims()), "kid"),
    "missing kid": (lambda f: f.signed(f.header(kid=None), f.claims()), "header"),
    "kid as a number": (lambda f: f.pss_signed(f.header(kid=1), f.claims()), "header"),
    "same kid, another key (impostor)": (
        lambda f: f.signed(f.header(), f.claims(), f.impostor.private_key), "signature"),
    # -- headers that point at keys: refused, never fetched or used -------------------------
    "jku to an attacker JWKS, signed by the attacker": (
        lambda f: f.signed(
            f.header(jku="https://attacker.example/jwks.json"), f.claims(), f.attacker_rsa
        ), "header"),
    "jwk embedding the attacker key that signed it": (
        lambda f: f.signed(f.header(jwk=_attacker_jwk(f)), f.claims(), f.attacker_rsa),
        "header"),
    "jwk of the attacker, kid of the attacker key": (
        lambda f: f.signed(
            f.header(jwk=_attacker_jwk(f), kid=SigningKey(f.attacker_rsa, created_at=0).kid),
            f.claims(), f.attacker_rsa,
        ), "header"),
    "x5u to an attacker certificate": (
        lambda f: f.signed(
            f.header(x5u="https://attacker.example/cert.pem"), f.claims(), f.attacker_rsa
        ), "header"),
    "x5c chain, even when signed by our key": (
        lambda f: f.signed(f.header(x5c=["MIIB..."]), f.claims()), "header"),
    "crit extension": (lambda f: f.signed(f.header(crit=["exp"], exp=1), f.claims()), "header"),
    # -- typ: other token kinds ---------------------------------------------------------------
    "typ JWT": (lambda f: f.signed(f.header(typ="JWT"), f.claims()), "typ"),
    "typ refresh+jwt": (lambda f: f.signed(f.header(typ="refresh+jwt"), f.claims()), "typ"),
    "typ AT+JWT (not exactly at+jwt)": (
        lambda f: f.signed(f.header(typ="AT+JWT"), f.claims()), "typ"),
    "typ missing": (lambda f: f.signed(f.header(typ=None), f.claims()), "header"),
    "an ID token from another issuer": (
        lambda f: f.signed(
            {"alg": "RS256", "typ": "JWT", "kid": "google-1"},
            f.claims(iss="https://accounts.google.com", aud="client-123.apps", nonce="n"),
            f.attacker_rsa,
        ), "alg"),
    "an ID token with our alg, another issuer's key": (
        lambda f: f.signed(
            f.header(typ="JWT", kid="google-1"),
            f.claims(iss="https://accounts.google.com", aud="client-123.apps"),
            f.attacker_rsa,
        ), "typ"),
    "a refresh token (opaque) used as an access token": (
        lambda f: secrets.token_urlsafe(32), "not three segments"),
    # -- claims ---------------------------------------------------------------------------------
    "expired beyond the leeway": (
        lambda f: f.signed(f.header(), f.claims(iat=int(NOW) - 661, nbf=int(NOW) - 661,
                                                exp=int(NOW) - 61)), "expired"),
    "nbf in the future beyond the leeway": (
        lambda f: f.signed(f.header(), f.claims(nbf=int(NOW) + 61)), "not yet valid"),
    "iat in the future beyond the leeway": (
        lambda f: f.signed(f.header(), f.claims(iat=int(NOW) + 61)), "issued in the future"),
    "wrong aud": (lambda f: f.signed(f.header(), f.claims(aud="another-api")), "aud"),
    "aud as a list": (lambda f: f.signed(f.header(), f.claims(aud=[AUDIENCE])), "claims"),
    "wrong iss": (lambda f: f.signed(f.header(), f.claims(iss="https://evil.test")), "iss"),
    "missing exp": (lambda f: f.signed(f.header(), f.claims(exp=None)), "claims"),
    "missing nbf": (lambda f: f.signed(f.header(), f.claims(nbf=None)), "claims"),
    "missing iat": (lambda f: f.signed(f.header(), f.claims(iat=None)), "claims"),
    "missing iss": (lambda f: f.signed(f.header(), f.claims(iss=None)), "claims"),
    "missing aud": (lambda f: f.signed(f.header(), f.claims(aud=None)), "claims"),
    "missing sub": (lambda f: f.signed(f.header(), f.claims(sub=None)), "claims"),
    "missing jti": (lambda f: f.signed(f.header(), f.claims(jti=None)), "claims"),
    "missing sid": (lambda f: f.signed(f.header(), f.claims(sid=None)), "claims"),
    "empty sub": (lambda f: f.signed(f.header(), f.claims(sub="")), "claims"),
    "exp as a string": (
        lambda f: f.signed(f.header(), f.claims(exp=str(int(NOW) + 600))), "claims"),
    "payload not an object": (lambda f: f.pss_signed(f.header(), ["not", "claims"]), "claims"),
    "payload not JSON, signed by our key": (
        lambda f: f.pss_signed(f.header(), b"{not json"), "claims"),
    # -- bits and shapes ------------------------------------------------------------------------
    "flipped signature bit": (_flip_signature_bit, "signature"),
    "flipped payload bit": (_flip_payload_bit, "signature"),
    "payload of another genuine token": (_swap_payload, "signature"),
    "non-canonical base64 signature": (_non_canonical_signature, "base64url"),
    "signature stripped": (lambda f: f.genuine.rsplit(".", 1)[0] + ".", "base64url"),
    "truncated": (lambda f: f.genuine[:-10], None),
    "extra segment": (lambda f: f.genuine + ".e30", "not three segments"),
    "two segments": (lambda f: f.genuine.rsplit(".", 1)[0], "not three segments"),
    "five segments (JWE shape)": (lambda f: "a.b.c.d.e", "not three segments"),
    "padding characters": (lambda f: f.genuine + "==", "base64url"),
    "whitespace before the header": (lambda f: " " + f.genuine, "base64url"),
    "whitespace inside the payload": (lambda f: f.genuine.replace(".", ". ", 1), "signature"),
    "empty string": (lambda f: "", "not three segments"),
    "header not JSON": (lambda f: f"{b64(b'not json')}.{f.genuine.split('.', 1)[1]}", "header"),
    "absurdly long": (lambda f: f.genuine + "A" * 5000, "too long"),
}  # fmt: skip


@pytest.fixture(scope="module")
def forge(tokens: AccessTokens, ring: KeyRing) -> Forge:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Forge(
        tokens=tokens,
        key=ring.active,
        attacker_rsa=attacker,
        attacker_ec=ec.generate_private_key(ec.SECP256R1()),
        impostor=SigningKey(
            rsa.generate_private_key(public_exponent=65537, key_size=2048), created_at=0
        ),
        genuine=tokens.issue("user-1", session_id="session-1", now=NOW),
    )


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


def test_the_genuine_token_is_accepted(forge: Forge) -> None:
    assert forge.tokens.verify(forge.genuine, now=NOW).sub == "user-1"
    # ...and so is one the forger's helper signs with our key and honest claims, so each entry
    # below fails because of the one thing it changes.
    assert forge.tokens.verify(forge.signed(forge.header(), forge.claims()), now=NOW).sid
    assert forge.tokens.verify(forge.pss_signed(forge.header(), forge.claims()), now=NOW).sid


@pytest.mark.parametrize("name", list(CORPUS))
def test_forged_token_is_refused(forge: Forge, name: str) -> None:
    build, reason = CORPUS[name]
    token = build(forge)
    with pytest.raises(InvalidAccessToken) as caught:
        forge.tokens.verify(token, now=NOW)
    error = caught.value
    if reason is not None:
        assert error.reason == reason
    # One kind of error for every failure; the HTTP edge answers them all alike
    # (tests/integration/test_token_subjects.py).
    assert type(error) is InvalidAccessToken
