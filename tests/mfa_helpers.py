"""Second factors in tests: enrol an authenticator app over the API, and compute its codes
the way the app on a phone would (RFC 6238, from the base32 secret), at the container's
clock; a test moves that clock a step on to get a code of the next step."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import jwt

from tests.auth_helpers import PASSWORD, Client
from tests.web_helpers import post_form
from waymark.infra.security import otp

STEP = 30.0
SECRET = re.compile(r'<code class="secret-key">([A-Z2-7]+)</code>')
"""The key to type into an app, as the enrolment page shows it."""


def secret_of(enrolment: dict[str, Any]) -> bytes:
    encoded = enrolment["secret"]
    return base64.b32decode(encoded + "=" * (-len(encoded) % 8))


def code(client: Client, secret: bytes, *, steps_ahead: int = 0) -> str:
    now = client.app.state.container.clock.time()
    return otp.hotp(secret, otp.step_at(now) + steps_ahead)


def next_step(client: Client) -> None:
    """Move the app's clock one TOTP step on: the next code is a new one."""
    client.app.state.container.clock.offset += STEP


async def enrol(client: Client, headers: dict[str, str]) -> tuple[bytes, list[str]]:
    """Turn MFA on for the caller of `headers`: its secret and recovery codes."""
    started = await client.post("/api/v1/me/mfa/totp", headers=headers)
    assert started.status_code == 200, started.text
    secret = secret_of(started.json())
    confirmed = await client.post(
        "/api/v1/me/mfa/totp/confirm",
        json={"code": code(client, secret), "password": PASSWORD},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def claims_of(access_token: str) -> dict[str, Any]:
    """The claims, unverified: what the token says (the signature is checked elsewhere)."""
    return jwt.decode(access_token, options={"verify_signature": False})  # type: ignore[no-any-return]


async def enrol_on_page(web: Client) -> tuple[bytes, httpx.Response]:
    """Turn MFA on through `/settings/mfa` (signed in, passwords on): the secret, and the
    confirmation's answer (the recovery codes' page, or a redirect where they are off)."""
    await post_form(web, "/settings/mfa", "/settings/mfa/totp", {})
    found = SECRET.search((await web.get("/settings/mfa")).text)
    assert found, "no key on the enrolment page"
    secret = base64.b32decode(found.group(1) + "=" * (-len(found.group(1)) % 8))
    confirmed = await post_form(
        web,
        "/settings/mfa",
        "/settings/mfa/totp/confirm",
        {"code": code(web, secret), "password": PASSWORD},
    )
    return secret, confirmed
