"""Signatures of deliveries: `Waymark-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, each
`v1` an HMAC-SHA256 of `<t>.<body>` under one of the endpoint's secrets (two during a
rotation, the new one first). A receiver accepts the delivery if any `v1` matches one of its
secrets and `t` is within five minutes of now (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Waymark-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    """256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(signing_secrets: list[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"]
    parts += [f"v1={signature(secret, timestamp, body)}" for secret in signing_secrets]
    return ",".join(parts)
