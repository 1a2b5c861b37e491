"""A passkey as the second factor of a step-up, over the API: options bound to the caller's
session (user verification required), an assertion, then the sensitive action; and what is
refused. The authenticator is tests/passkey_authenticator.py, A SOFTWARE AUTHENTICATOR
WRITTEN FOR THE TESTS (the browser's real one is in tests/browser/test_mfa.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from tests.auth_helpers import PASSWORD, Client, bearer, login_tokens, register_verified
from tests.integration.test_passkeys import authenticator_for, register
from tests.mfa_helpers import enrol
from tests.passkey_authenticator import SoftwareAuthenticator, b64

pytestmark = pytest.mark.backend("sqlite")
OPTIONS = "/api/v1/me/mfa/step-up/passkey"
STEP_UP = "/api/v1/me/mfa/step-up"
SENSITIVE = "/api/v1/me/mfa/recovery-codes"


async def account(
    app: Litestar, client: Client, mail_dir: Path, email: str, *, passkey: bool = True
) -> tuple[SoftwareAuthenticator, dict[str, Any], list[str]]:
    """An account with MFA on (an app) and a passkey: its token family's tokens, from a
    step-up that is no longer recent (the clock moved past it), and its recovery codes."""
    await register_verified(client, mail_dir, email)
    tokens = await login_tokens(client, email)
    key = authenticator_for(app)
    if passkey:
        assert (await register(client, bearer(tokens), key)).status_code == 201
    _, codes = await enrol(client, bearer(tokens))  # a step-up of this family, for now
    client.app.state.container.clock.offset += 11 * 60
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    headers = bearer(refreshed.json())
    refused = await client.post(SENSITIVE, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "step-up-required")
    return key, refreshed.json(), codes


async def options(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    began = await client.post(OPTIONS, headers=headers)
    assert began.status_code == 200, began.text
    assert began.headers["cache-control"] == "no-store"
    return dict(began.json()["publicKey"])


async def step_up(client: Client, headers: dict[str, str], credential: dict[str, Any]) -> Any:
    return await client.post(
        STEP_UP, json={"kind": "webauthn", "credential": credential}, headers=headers
    )


async def test_a_passkey_steps_up_then_the_sensitive_action_goes_through(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    key, tokens, _ = await account(app, client, mail_dir, "su-pk-ada@example.org")
    headers = bearer(tokens)
    public_key = await options(client, headers)
    assert [c["id"] for c in public_key["allowCredentials"]] == [b64(key.credential_id)]
    assert public_key["userVerification"] == "required"
    stepped = await step_up(client, headers, key.get(public_key))
    assert stepped.status_code == 204, stepped.text
    done = await client.post(SENSITIVE, headers=headers)
    assert done.status_code == 200, done.text
    assert len(done.json()["recovery_codes"]) == 10


async def test_a_replayed_assertion_is_refused(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    key, tokens, _ = await account(app, client, mail_dir, "su-pk-replay@example.org")
    headers = bearer(tokens)
    assertion = key.get(await options(client, headers))
    assert (await step_up(client, headers, assertion)).status_code == 204
    # Used once: sent again, to no options or to new ones, it proves nothing.
    again = await step_up(client, headers, assertion)
    assert (again.status_code, again.json()["code"]) == (401, "mfa-code-invalid")
    await options(client, headers)
    again = await step_up(client, headers, assertion)
    assert (again.status_code, again.json()["code"]) == (401, "mfa-code-invalid")


async def test_an_assertion_for_another_challenge_or_without_user_verification_is_refused(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    key, tokens, _ = await account(app, client, mail_dir, "su-pk-wrong@example.org")
    headers = bearer(tokens)
    cases = {
        "another challenge": lambda o: key.get(o, challenge=b64(b"\x01" * 32)),
        "no user verification": lambda o: key.get(o, verified=False),
        "another origin": lambda o: key.get(o, origin="https://evil.example"),
    }
    for case, made in cases.items():
        refused = await step_up(client, headers, made(await options(client, headers)))
        assert (refused.status_code, refused.json()["code"]) == (401, "mfa-code-invalid"), case
    still = await client.post(SENSITIVE, headers=headers)
    assert (still.status_code, still.json()["code"]) == (403, "step-up-required")


async def test_another_accounts_passkey_is_refused(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    stranger, _, _ = await account(app, client, mail_dir, "su-pk-stranger@example.org")
    _, tokens, _ = await account(app, client, mail_dir, "su-pk-own@example.org")
    headers = bearer(tokens)
    refused = await step_up(client, headers, stranger.get(await options(client, headers)))
    assert (refused.status_code, refused.json()["code"]) == (401, "mfa-code-invalid")


async def test_options_are_bound_to_the_session_that_asked_and_short_lived(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    email = "su-pk-bound@example.org"
    key, tokens, codes = await account(app, client, mail_dir, email)
    headers = bearer(tokens)
    # Another session of the same account: its own sign-in, answered with a recovery code.
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    answered = await client.post(
        "/api/v1/auth/mfa/challenge",
        json={"challenge": login.json()["challenge"], "kind": "recovery", "code": codes[0]},
    )
    assert answered.status_code == 200, answered.text
    public_key = await options(client, headers)
    elsewhere = await step_up(client, bearer(answered.json()), key.get(public_key))
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (401, "mfa-code-invalid")
    # Options live 3 minutes.
    public_key = await options(client, headers)
    client.app.state.container.clock.offset += 4 * 60
    late = await step_up(client, headers, key.get(public_key))
    assert (late.status_code, late.json()["code"]) == (401, "mfa-code-invalid")


async def test_an_account_without_a_passkey_gets_no_options(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    _, tokens, _ = await account(app, client, mail_dir, "su-pk-none@example.org", passkey=False)
    refused = await client.post(OPTIONS, headers=bearer(tokens))
    assert (refused.status_code, refused.json()["code"]) == (422, "validation-failed")
    # A code's kind with a passkey's answer, or none at all: refused as malformed.
    for body in ({"kind": "webauthn"}, {"kind": "totp", "credential": {}}):
        malformed = await client.post(STEP_UP, json=body, headers=bearer(tokens))
        assert malformed.status_code == 422, body
