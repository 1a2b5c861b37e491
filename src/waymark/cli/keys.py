"""`waymark keys`: the access-token signing keys, and the key that seals secrets at rest."""

from __future__ import annotations

import time

import typer

from waymark.cli.common import load_settings, out
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.security.signing_keys import KeyRing

keys_app = typer.Typer(help="Access-token signing keys.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing access tokens with a new key. The previous key keeps verifying for
    WAYMARK_AUTH__SIGNING_KEY_RETENTION seconds; running servers pick the new key up within
    seconds."""
    settings = load_settings()
    path = settings.signing_keys_path
    ring = KeyRing.open(path, now=time.time(), retain_for=settings.auth.signing_key_retention)
    new = ring.rotate(now=time.time())
    out.print(f"signing with {new.kid}; {len(ring.keys)} key(s) in {path}")


@keys_app.command("secret-box")
def keys_secret_box() -> None:
    """Create the AES-256 key that seals TOTP secrets at rest (0600, beside the signing keys),
    unless it exists; give every process the same file."""
    path = load_settings().secret_key_path
    existed = path.exists()
    SecretBox.open(path)
    out.print(f"{'kept the' if existed else 'created a'} secret-sealing key at {path}")
