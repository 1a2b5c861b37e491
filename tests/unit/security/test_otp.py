"""HOTP and TOTP against the RFC test vectors (SECURITY.md lists them), and the rules the
challenge relies on: one step of skew, never the same step twice."""

from __future__ import annotations

import pytest

from waymark.infra.security import otp

SHA1_SEED = b"12345678901234567890"
SHA256_SEED = b"12345678901234567890123456789012"
SHA512_SEED = b"1234567890" * 6 + b"1234"

RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


def test_hotp_rfc4226_appendix_d() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314"]
    expected += ["254676", "287922", "162583", "399871", "520489"]
    assert [otp.hotp(SHA1_SEED, counter) for counter in range(10)] == expected


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_rfc6238_appendix_b(at: int, sha1: str, sha256: str, sha512: str) -> None:
    assert otp.totp(SHA1_SEED, at, digits=8, algorithm="SHA1") == sha1
    assert otp.totp(SHA256_SEED, at, digits=8, algorithm="SHA256") == sha256
    assert otp.totp(SHA512_SEED, at, digits=8, algorithm="SHA512") == sha512


def test_one_step_of_skew_either_side_and_no_more() -> None:
    secret, now = otp.new_secret(), 1_800_000_015.0
    assert len(secret) * 8 == 160
    current = otp.step_at(now)
    for offset in (-1, 0, 1):
        code = otp.hotp(secret, current + offset)
        assert otp.matching_step(secret, code, now=now) == current + offset
    for offset in (-2, 2):
        assert otp.matching_step(secret, otp.hotp(secret, current + offset), now=now) is None


def test_a_step_is_never_accepted_twice_nor_an_older_one_after_it() -> None:
    secret, now = otp.new_secret(), 1_800_000_015.0
    current = otp.step_at(now)
    code = otp.totp(secret, now)
    assert otp.matching_step(secret, code, now=now, after=current - 1) == current
    assert otp.matching_step(secret, code, now=now, after=current) is None
    assert otp.matching_step(secret, otp.hotp(secret, current - 1), now=now, after=current) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_match_nothing(code: str) -> None:
    assert otp.matching_step(otp.new_secret(), code, now=1_800_000_000.0) is None


def test_otpauth_uri_and_qr_svg() -> None:
    uri = otp.otpauth_uri(SHA1_SEED, issuer="Waymark", account="ada@example.com")
    assert uri == (
        "otpauth://totp/Waymark:ada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=Waymark&algorithm=SHA1&digits=6&period=30"
    )
    svg = otp.qr_svg(uri)
    assert svg.startswith("<svg")
    assert "<title>" in svg
    assert "<script" not in svg
