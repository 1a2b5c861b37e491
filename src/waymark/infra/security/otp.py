"""One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), the `otpauth://` URI that
authenticator apps read, and its QR code as SVG, drawn here (no third-party request).

Written out rather than taken from `pyotp`: it is thirty lines, and the checks that matter
(one step of skew, a step never accepted twice) need the matched step back, which the
caller stores. Codes are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import struct
from typing import Final, Literal
from urllib.parse import quote, urlencode

import segno

Algorithm = Literal["SHA1", "SHA256", "SHA512"]

SECRET_BYTES: Final = 20
"""160 bits, as RFC 4226 recommends."""
STEP: Final = 30
DIGITS: Final = 6
SKEW: Final = 1
"""Steps accepted either side of now: a phone clock a little off, a code typed at the turn."""

_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def hotp(
    secret: bytes, counter: int, *, digits: int = DIGITS, algorithm: Algorithm = "SHA1"
) -> str:
    """RFC 4226 §5.3: HMAC over the 8-byte counter, dynamically truncated."""
    mac = hmac.new(secret, struct.pack(">Q", counter), _DIGESTS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def step_at(now: float, *, step: int = STEP) -> int:
    """RFC 6238 §4: the time step counter T = floor(unix time / X), T0 = 0."""
    return int(now // step)


def totp(secret: bytes, now: float, *, digits: int = DIGITS, algorithm: Algorithm = "SHA1") -> str:
    return hotp(secret, step_at(now), digits=digits, algorithm=algorithm)


def matching_step(secret: bytes, code: str, *, now: float, after: int | None = None) -> int | None:
    """The time step whose code `code` is, within one step of `now`, and later than `after`
    (the last step accepted: a code is never accepted twice, nor an older one after it);
    None if there is none. Every candidate is computed and compared, so timing says nothing
    about which matched."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = step_at(now)
    found = None
    for candidate in range(current - SKEW, current + SKEW + 1):
        if hmac.compare_digest(hotp(secret, candidate).encode(), code.encode()) and (
            after is None or candidate > after
        ):
            found = candidate if found is None else found
    return found


def encode_secret(secret: bytes) -> str:
    """Base32 without padding, as authenticator apps take it typed in."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def otpauth_uri(secret: bytes, *, issuer: str, account: str) -> str:
    """The Key URI Format authenticator apps read (Google Authenticator's wiki): the label is
    `issuer:account`, and `issuer` is repeated as a parameter."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": encode_secret(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str, *, title: str = "QR code for your authenticator app") -> str:
    """The URI as an SVG QR code (error correction M), inline-able: no XML declaration,
    a title for screen readers, scaled by its viewBox."""
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        out,
        kind="svg",
        scale=4,
        border=4,
        xmldecl=False,
        svgns=True,
        title=title,
        nl=False,
        omitsize=True,
        svgclass="qr",
        lineclass=None,
        dark="#000",
        light="#fff",
    )
    return out.getvalue().decode("utf-8")
