"""Which JWS algorithm should sign access tokens? Sign and verify rates with PyJWT, here.

Verification runs on every authenticated request, signing once per login or refresh, so the
choice is the fastest *asymmetric* verify: resource servers verify from the public JWK Set,
which rules out HS256 (it would hand them the signing secret). HS256 is measured only as the
floor: what PyJWT costs when the cryptography is nearly free.

    uv run python -m bench.micro.jwt_algorithms [--seconds 1.0] [--rounds 3]

Each rate is the best of `--rounds` timed loops of `--seconds` of thread CPU time: PyJWT's
`encode` and `decode` (signature, `exp`/`nbf`/`iat`, `iss`, `aud`, required claims), with key
objects parsed once beforehand, as a server holds them. "raw verify" is the signature check
alone (cryptography/OpenSSL), to show how much of `decode` is the algorithm itself.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

ISSUER = "https://waymark.example"
AUDIENCE = "waymark-api"


@dataclass(frozen=True)
class Candidate:
    alg: str
    label: str
    asymmetric: bool
    private_key: Any
    public_key: Any
    raw_verify: Callable[[bytes, bytes], None]
    """Verifies a signature over the signing input with the key alone (raises if invalid)."""


@dataclass(frozen=True)
class Result:
    candidate: Candidate
    sign_per_s: float
    verify_per_s: float
    raw_verify_per_s: float
    token_bytes: int


def _candidates() -> list[Candidate]:
    ed = ed25519.Ed25519PrivateKey.generate()
    es = ec.generate_private_key(ec.SECP256R1())
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    secret = os.urandom(32)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)

    def es_raw(sig: bytes, data: bytes) -> None:
        # JWS carries r||s; OpenSSL wants DER, as PyJWT converts it.
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        es.public_key().verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))

    def hs_raw(sig: bytes, data: bytes) -> None:
        if not hmac.compare_digest(sig, hmac.new(secret, data, hashlib.sha256).digest()):
            raise ValueError("bad signature")

    return [
        Candidate(
            "EdDSA", "EdDSA (Ed25519)", True, ed, ed.public_key(),
            lambda sig, data: ed.public_key().verify(sig, data),
        ),
        Candidate("ES256", "ES256 (P-256)", True, es, es.public_key(), es_raw),
        Candidate(
            "RS256", "RS256 (RSA-2048)", True, rs, rs.public_key(),
            lambda sig, data: rs.public_key().verify(
                sig, data, padding.PKCS1v15(), hashes.SHA256()
            ),
        ),
        Candidate(
            "PS256", "PS256 (RSA-2048)", True, rs, rs.public_key(),
            lambda sig, data: rs.public_key().verify(sig, data, pss, hashes.SHA256()),
        ),
        Candidate("HS256", "HS256 (reference only)", False, secret, secret, hs_raw),
    ]  # fmt: skip


def _claims(now: int) -> dict[str, Any]:
    """The shape `waymark.infra.security.access_tokens.AccessTokens` issues."""
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "0193a0b2-7d8e-7c41-9a51-5f0e1c2d3b4a",
        "client_id": "waymark",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "V3J8vT0m2cTq4nA9hZ1xkQ",
        "sid": "b6f0c3f7e2d94a8c",
    }


def _batch_size(operation: Callable[[], object]) -> int:
    """Operations per ~10 ms, so the clock is read rarely."""
    batch = 1
    while True:
        started = time.thread_time()
        for _ in range(batch):
            operation()
        if time.thread_time() - started >= 0.01:
            return batch
        batch *= 2


def _round(operation: Callable[[], object], batch: int, seconds: float) -> float:
    """Operations per CPU-second of this thread over one timed loop.

    Thread CPU time, not wall time: on a shared machine the wall clock also counts the time
    other processes held the core, which would punish whichever candidate ran during a spike.
    """
    done, started = 0, time.thread_time()
    while (elapsed := time.thread_time() - started) < seconds:
        for _ in range(batch):
            operation()
        done += batch
    return done / elapsed


def _operations(candidate: Candidate) -> tuple[dict[str, Callable[[], object]], int]:
    """sign, verify and raw verify for one candidate, checked once; and its token length."""
    claims = _claims(int(time.time()))
    headers = {"kid": "bench", "typ": "at+jwt"}
    token = jwt.encode(claims, candidate.private_key, candidate.alg, headers=headers)
    signing_input, _, signature_b64 = token.rpartition(".")
    signed = signing_input.encode()
    signature = jwt.utils.base64url_decode(signature_b64)
    algorithms = [candidate.alg]
    options: Any = {"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]}

    def sign() -> object:
        return jwt.encode(claims, candidate.private_key, candidate.alg, headers=headers)

    def verify() -> object:
        return jwt.decode(
            token, candidate.public_key, algorithms=algorithms, options=options,
            audience=AUDIENCE, issuer=ISSUER, leeway=60,
        )  # fmt: skip

    def raw_verify() -> object:
        candidate.raw_verify(signature, signed)
        return None

    operations: dict[str, Callable[[], object]] = {
        "sign": sign, "verify": verify, "raw_verify": raw_verify,
    }  # fmt: skip
    for operation in operations.values():
        operation()  # fail loudly before timing anything
    return operations, len(token)


def measure_all(candidates: list[Candidate], *, seconds: float, rounds: int) -> list[Result]:
    """Best rate of each operation over `rounds` rounds; every round visits every candidate,
    so a burst of load elsewhere hits them all alike instead of one algorithm."""
    prepared = [(c, *_operations(c)) for c in candidates]
    batches = {(c.alg, name): _batch_size(op) for c, ops, _ in prepared for name, op in ops.items()}
    best: dict[tuple[str, str], float] = dict.fromkeys(batches, 0.0)
    for _ in range(rounds):
        for c, ops, _ in prepared:
            for name, op in ops.items():
                key = (c.alg, name)
                best[key] = max(best[key], _round(op, batches[key], seconds))
    return [
        Result(
            candidate=c,
            sign_per_s=best[c.alg, "sign"],
            verify_per_s=best[c.alg, "verify"],
            raw_verify_per_s=best[c.alg, "raw_verify"],
            token_bytes=token_bytes,
        )
        for c, _, token_bytes in prepared
    ]


TIE = 0.10
"""Verify rates closer than this are a tie: rounds on a shared machine differ by as much."""
TIE_BREAK = ("PS256", "EdDSA", "ES256", "RS256")
"""Order among tied algorithms. PS256 first: RSASSA-PSS has a security proof, and RFC 8017
recommends it over PKCS#1 v1.5 (RS256) for new applications; then the short-key curves."""


def recommend(results: list[Result]) -> tuple[Result, list[Result]]:
    """The asymmetric algorithm with the fastest full verify, and those tied with it."""
    asymmetric = [r for r in results if r.candidate.asymmetric]
    fastest = max(r.verify_per_s for r in asymmetric)
    tied = [r for r in asymmetric if r.verify_per_s >= fastest * (1 - TIE)]
    return min(tied, key=lambda r: TIE_BREAK.index(r.candidate.alg)), tied


def measure_waymark(*, seconds: float, rounds: int) -> tuple[str, float]:
    """`AccessTokens.verify` as the app runs it: the chosen algorithm and every check."""
    from waymark.infra.security.access_tokens import AccessTokens
    from waymark.infra.security.signing_keys import ALGORITHM, KeyRing

    now = time.time()
    tokens = AccessTokens(
        KeyRing.generate(now=now, retain_for=3600), issuer=ISSUER, audience=AUDIENCE
    )
    token = tokens.issue("user", session_id="session", now=now)

    def verify() -> object:
        return tokens.verify(token, now=now)

    verify()
    batch = _batch_size(verify)
    return ALGORITHM, max(_round(verify, batch, seconds) for _ in range(rounds))


def render(results: list[Result]) -> str:
    header = (
        f"{'algorithm':<24}{'sign/s':>10}{'verify/s':>10}{'µs/verify':>11}"
        f"{'raw verify/s':>14}{'token B':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.candidate.label:<24}{r.sign_per_s:>10,.0f}{r.verify_per_s:>10,.0f}"
            f"{1e6 / r.verify_per_s:>11.1f}{r.raw_verify_per_s:>14,.0f}{r.token_bytes:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed loop")
    parser.add_argument("--rounds", type=int, default=3, help="timed loops per measurement")
    args = parser.parse_args(argv)

    from importlib.metadata import version

    import cryptography.hazmat.backends.openssl as openssl_backend

    openssl = openssl_backend.backend.openssl_version_text()
    print(
        f"PyJWT {version('pyjwt')}, cryptography {version('cryptography')} ({openssl}), "
        f"Python {platform.python_version()}, {os.cpu_count()} cores; "
        "rates per CPU-second of one thread, best of each round"
    )
    results = measure_all(_candidates(), seconds=args.seconds, rounds=args.rounds)
    print(render(results))
    best, tied = recommend(results)
    if len(tied) > 1:
        names = ", ".join(r.candidate.alg for r in tied)
        reason = f"fastest asymmetric verify, tied within {TIE:.0%} ({names}): tie broken for"
    else:
        reason = "fastest asymmetric verify:"
    print(
        f"\nrecommended: {best.candidate.alg}: {reason} {best.candidate.alg}; "
        f"{best.verify_per_s:,.0f} verifies/s, {best.sign_per_s:,.0f} signs/s, "
        f"{best.token_bytes} B tokens"
    )
    alg, rate = measure_waymark(seconds=args.seconds, rounds=args.rounds)
    print(
        f"waymark AccessTokens.verify ({alg}, every check): {rate:,.0f}/s, "
        f"{1e6 / rate:.1f} µs per request"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
