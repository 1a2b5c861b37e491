"""A passkey as the second factor at MFA's challenge, over the API: password sign-in, the
challenge, options bound to it, an assertion, tokens. The authenticator is
tests/passkey_authenticator.py, A SOFTWARE AUTHENTICATOR WRITTEN FOR THE TESTS (the browser's
real one is in tests/browser/test_passkeys.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from tests.auth_helpers import PASSWORD, Client, bearer, login_tokens, register_verified
from tests.integration.test_passkeys import authenticator_for, register
from tests.mfa_helpers import claims_of, enrol, next_step
from tests.passkey_authenticator import SoftwareAuthenticator, b64
from tests.web_helpers import csrf_of, post_form

pytestmark = pytest.mark.backend("sqlite")
LOGIN = "/api/v1/auth/login"
CHALLENGE = "/api/v1/auth/mfa/challenge"
OPTIONS = "/api/v1/auth/mfa/challenge/passkey"


async def account_with(
    app: Litestar,
    client: Client,
    mail_dir: Path,
    email: str,
    *,
    totp: bool = True,
    synced: bool = False,
) -> SoftwareAuthenticator:
    """An account with a registered passkey (synced, or bound to its device) and MFA on
    through an app, if `totp`."""
    await register_verified(client, mail_dir, email)
    headers = bearer(await login_tokens(client, email))
    key = authenticator_for(app)
    key.synced = synced
    registered = await register(client, headers, key)
    assert registered.status_code == 201, registered.text
    if totp:
        await enrol(client, headers)
        next_step(client)
    return key


async def challenge(client: Client, email: str) -> str:
    login = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    body = login.json()
    assert body["mfa_required"] is True, body
    assert body["factors"] == ["totp", "recovery", "webauthn"]
    return str(body["challenge"])


async def options(client: Client, token: str) -> dict[str, Any]:
    began = await client.post(OPTIONS, json={"challenge": token})
    assert began.status_code == 200, began.text
    return dict(began.json()["publicKey"])


async def answer(client: Client, token: str, credential: dict[str, Any]) -> Any:
    return await client.post(
        CHALLENGE, json={"challenge": token, "kind": "webauthn", "credential": credential}
    )


async def test_a_passkey_answers_the_challenge_of_a_password_sign_in(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    key = await account_with(app, client, mail_dir, "pk2-ada@example.org")
    token = await challenge(client, "pk2-ada@example.org")
    public_key = await options(client, token)
    assert [c["id"] for c in public_key["allowCredentials"]] == [b64(key.credential_id)]
    assert public_key["userVerification"] == "required"
    answered = await answer(client, token, key.get(public_key))
    assert answered.status_code == 200, answered.text
    claims = claims_of(answered.json()["access_token"])
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    assert claims["acr"] == "aal2"
    # The challenge is used up: the same assertion, or new options, prove nothing more.
    again = await answer(client, token, key.get(public_key))
    assert again.json()["code"] == "mfa-challenge-ended"
    assert (await client.post(OPTIONS, json={"challenge": token})).status_code == 401


async def test_a_synced_passkey_is_a_software_key_in_the_amr(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    """RFC 8176: `swk` for a key its provider copies between devices (the assertion's BE
    and BS flags set), where one bound to its device is `hwk` (above)."""
    key = await account_with(app, client, mail_dir, "pk2-synced@example.org", synced=True)
    token = await challenge(client, "pk2-synced@example.org")
    answered = await answer(client, token, key.get(await options(client, token)))
    assert answered.status_code == 200, answered.text
    assert claims_of(answered.json()["access_token"])["amr"] == ["pwd", "swk", "mfa"]
    [kept] = (await client.get("/api/v1/me/passkeys", headers=bearer(answered.json()))).json()
    assert kept["synced"] is True


async def test_a_passkey_alone_does_not_turn_mfa_on(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    await account_with(app, client, mail_dir, "pk2-solo@example.org", totp=False)
    login = await client.post(LOGIN, json={"email": "pk2-solo@example.org", "password": PASSWORD})
    assert login.status_code == 200
    assert "access_token" in login.json()
    assert claims_of(login.json()["access_token"])["amr"] == ["pwd"]


async def test_another_accounts_passkey_is_refused(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    await account_with(app, client, mail_dir, "pk2-own@example.org")
    stranger = await account_with(app, client, mail_dir, "pk2-other@example.org", totp=False)
    token = await challenge(client, "pk2-own@example.org")
    public_key = await options(client, token)
    refused = await answer(client, token, stranger.get(public_key))
    assert (refused.status_code, refused.json()["code"]) == (401, "mfa-code-invalid")


async def test_a_replayed_assertion_is_refused(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    key = await account_with(app, client, mail_dir, "pk2-replay@example.org")
    first = await challenge(client, "pk2-replay@example.org")
    public_key = await options(client, first)
    assertion = key.get(public_key)
    # Replayed into another sign-in's challenge (whose options bound another challenge).
    second = await challenge(client, "pk2-replay@example.org")
    await options(client, second)
    replayed = await answer(client, second, assertion)
    assert replayed.json()["code"] == "mfa-code-invalid"
    # Answered once for its own challenge, then sent again to fresh options: refused.
    assert (await answer(client, first, assertion)).status_code == 200
    third = await challenge(client, "pk2-replay@example.org")
    await options(client, third)
    assert (await answer(client, third, assertion)).json()["code"] == "mfa-code-invalid"
    # A wrong answer uses the options up: the right assertion for them comes too late.
    fourth = await challenge(client, "pk2-replay@example.org")
    fresh = await options(client, fourth)
    assert (await answer(client, fourth, {"id": "junk"})).json()["code"] == "mfa-code-invalid"
    assert (await answer(client, fourth, key.get(fresh))).json()["code"] == "mfa-code-invalid"


async def test_five_wrong_passkey_answers_end_the_challenge(
    app: Litestar, client: Client, mail_dir: Path
) -> None:
    key = await account_with(app, client, mail_dir, "pk2-tries@example.org")
    token = await challenge(client, "pk2-tries@example.org")
    for tried in range(1, 6):
        public_key = await options(client, token)
        wrong = await answer(client, token, key.get(public_key, verified=False))
        expected = "mfa-code-invalid" if tried < 5 else "mfa-challenge-ended"
        assert wrong.json()["code"] == expected
    late = await client.post(OPTIONS, json={"challenge": token})
    assert late.json()["code"] == "mfa-challenge-ended"


async def test_the_answer_shape_is_checked(app: Litestar, client: Client, mail_dir: Path) -> None:
    await account_with(app, client, mail_dir, "pk2-shape@example.org")
    token = await challenge(client, "pk2-shape@example.org")
    no_credential = await client.post(
        CHALLENGE, json={"challenge": token, "kind": "webauthn", "code": "123456"}
    )
    assert (no_credential.status_code, no_credential.json()["code"]) == (422, "validation-failed")
    a_credential_for_totp = await client.post(
        CHALLENGE, json={"challenge": token, "kind": "totp", "credential": {"id": "x"}}
    )
    assert a_credential_for_totp.status_code == 422
    no_options_for_totp = await client.post(OPTIONS, json={"challenge": "x" * 43})
    assert no_options_for_totp.json()["code"] == "mfa-challenge-ended"


async def test_the_challenge_page_offers_a_passkey(
    app: Litestar, web: Client, mail_dir: Path
) -> None:
    """The page's script, in-process: options from `/login/mfa/passkey` (a form post
    answered with JSON), the assertion posted with the challenge's form."""
    key = await account_with(app, web, mail_dir, "pk2-page@example.org")
    signed = await post_form(
        web, "/login", "/login", {"email": "pk2-page@example.org", "password": PASSWORD}
    )
    assert signed.headers["location"].startswith("/login/mfa")
    shown = await web.get("/login/mfa")
    assert "data-passkey-second-factor" in shown.text
    assert ">Use a passkey</button>" in shown.text
    assert re.search(r'<script src="[^"]*passkeys[^"]*\.js"', shown.text)
    assert "<script>" not in shown.text  # a file, no inline code
    began = await web.post(
        "/login/mfa/passkey", data={"csrf_token": csrf_of(shown.text)}, follow_redirects=False
    )
    assert began.status_code == 200, began.text
    assert began.headers["cache-control"] == "no-store"
    credential = key.get(began.json()["publicKey"])
    passed = await post_form(
        web,
        "/login/mfa",
        "/login/mfa",
        {"kind": "webauthn", "credential": json.dumps(credential), "next": "/settings"},
    )
    assert passed.status_code == 303, passed.text
    assert passed.headers["location"] == "/settings"
    assert (await web.get("/settings")).status_code == 200


async def test_a_garbled_passkey_answer_on_the_page_is_a_form_error(
    app: Litestar, web: Client, mail_dir: Path
) -> None:
    await account_with(app, web, mail_dir, "pk2-garbled@example.org")
    await post_form(
        web, "/login", "/login", {"email": "pk2-garbled@example.org", "password": PASSWORD}
    )
    garbled = await post_form(
        web, "/login/mfa", "/login/mfa", {"kind": "webauthn", "credential": "{not json"}
    )
    assert garbled.status_code == 422
    assert "Use a passkey" in garbled.text
