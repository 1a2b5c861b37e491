"""Signatures of deliveries: `Waymark-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`, each
`v1` an HMAC-SHA256 of `<t>.<body>` under one of the endpoint's secrets (two during a
rotation, the new one first). A receiver accepts the delivery if any `v1` matches one of its
secrets and `t` is within five minutes of now (docs/webhooks.md).

Secrets are kept sealed (`seal`), each bound to its endpoint and column: the current one as
`secret`, the previous one of a rotation as `previous_secret`. One that does not open (moved
from another row or column, or sealed under another key) raises `SecretUnreadable`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Literal

from waymark.infra.security.secret_box import SecretBox

SIGNATURE_HEADER = "Waymark-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
Role = Literal["secret", "previous_secret"]


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


def secret_aad(webhook_id: uuid.UUID, role: Role) -> bytes:
    """What a sealed signing secret is bound to: its table, column and row."""
    return f"webhook_endpoints.{role}:{webhook_id}".encode()


def seal(box: SecretBox, webhook_id: uuid.UUID, role: Role, secret: str) -> bytes:
    return box.seal(secret.encode(), aad=secret_aad(webhook_id, role))


def unseal(box: SecretBox, webhook_id: uuid.UUID, role: Role, sealed: bytes) -> str:
    """The secret; raises `SecretUnreadable` if it was not sealed for this row and column."""
    return box.unseal(sealed, aad=secret_aad(webhook_id, role)).decode()
