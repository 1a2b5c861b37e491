"""Passkeys through the API: registering one to a signed-in account, signing in with it
username-less, and every assertion the relying party must refuse. The authenticator here is
tests/passkey_authenticator.py, A SOFTWARE AUTHENTICATOR WRITTEN FOR THE TESTS (the bytes a
platform authenticator sends, made with `cryptography` keys), so that wrong origins, rp ids,
counters and flags can be crafted; the real browser's ceremonies are in
tests/browser/test_passkeys.py (Chromium's virtual authenticator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from tests.auth_helpers import PASSWORD, Client, bearer, login_tokens, register_verified
from tests.mfa_helpers import claims_of, enrol
from tests.passkey_authenticator import SoftwareAuthenticator
from waymark.features.auth.relying_party import RelyingParty

EMAIL = "passkey@example.org"


def authenticator_for(app: Litestar) -> SoftwareAuthenticator:
    rp: RelyingParty = app.state.container.passkeys.rp
    return SoftwareAuthenticator(rp_id=rp.id, origin=rp.origin)


async def register(
    client: Client, auth: dict[str, str], key: SoftwareAuthenticator, **tamper: Any
) -> Any:
    began = await client.post("/api/v1/me/passkeys/options", headers=auth)
    assert began.status_code == 200, began.text
    ceremony = began.json()
    made = key.create(ceremony["publicKey"], **tamper)
    return await client.post(
        "/api/v1/me/passkeys",
        headers=auth,
        json={"ceremony": ceremony["ceremony"], "credential": made, "name": "Laptop"},
    )


async def sign_in_options(client: Client) -> dict[str, Any]:
    began = await client.post("/api/v1/auth/passkey/options")
    assert began.status_code == 200, began.text
    return dict(began.json())


async def verify(client: Client, ceremony: str, credential: dict[str, Any]) -> Any:
    return await client.post(
        "/api/v1/auth/passkey/verify", json={"ceremony": ceremony, "credential": credential}
    )


@pytest.fixture
async def member(client: Client, mail_dir: Path) -> dict[str, str]:
    await register_verified(client, mail_dir, EMAIL)
    return bearer(await login_tokens(client, EMAIL))


@pytest.fixture
async def key(app: Litestar, client: Client, member: dict[str, str]) -> SoftwareAuthenticator:
    """The member's passkey, registered."""
    key = authenticator_for(app)
    registered = await register(client, member, key)
    assert registered.status_code == 201, registered.text
    return key


async def test_a_registered_passkey_signs_in_username_less(
    app: Litestar, client: Client, member: dict[str, str]
) -> None:
    key = authenticator_for(app)
    began = await client.post("/api/v1/me/passkeys/options", headers=member)
    options = began.json()["publicKey"]
    assert options["rp"] == {"id": app.state.container.passkeys.rp.id, "name": "Waymark"}
    selection = options["authenticatorSelection"]
    assert (selection["residentKey"], selection["userVerification"]) == ("required", "required")
    made = key.create(options)
    registered = await client.post(
        "/api/v1/me/passkeys",
        headers=member,
        json={"ceremony": began.json()["ceremony"], "credential": made, "name": "Laptop"},
    )
    assert registered.status_code == 201, registered.text
    [listed] = (await client.get("/api/v1/me/passkeys", headers=member)).json()
    assert (listed["name"], listed["transports"], listed["last_used_at"]) == (
        "Laptop",
        ["internal"],
        None,
    )

    # A second registration excludes the passkey the account has; registered anyway: 409.
    again = (await client.post("/api/v1/me/passkeys/options", headers=member)).json()
    assert [c["id"] for c in again["publicKey"]["excludeCredentials"]] == [made["id"]]
    twice = await client.post(
        "/api/v1/me/passkeys",
        headers=member,
        json={"ceremony": again["ceremony"], "credential": key.create(again["publicKey"])},
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "passkey-exists")

    # Signing in: no address, no allowCredentials; the authenticator picks the passkey.
    ceremony = await sign_in_options(client)
    assert ceremony["publicKey"]["allowCredentials"] == []
    assert ceremony["publicKey"]["userVerification"] == "required"
    answer = await verify(client, ceremony["ceremony"], key.get(ceremony["publicKey"]))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert me.json()["email"] == EMAIL

    events = (await client.get("/api/v1/me/audit", headers=bearer(tokens))).json()
    login = next(e for e in events if e["kind"] == "login.succeeded")
    assert login["detail"] == {"mode": "token", "via": "webauthn", "amr": "hwk user mfa"}
    assert "passkey.added" in [e["kind"] for e in events]
    [used] = (await client.get("/api/v1/me/passkeys", headers=member)).json()
    assert used["last_used_at"] is not None


@pytest.mark.backend("sqlite")
async def test_a_browser_session_from_a_passkey(client: Client, key: SoftwareAuthenticator) -> None:
    ceremony = await sign_in_options(client)
    answer = await client.post(
        "/api/v1/auth/passkey/verify",
        json={
            "ceremony": ceremony["ceremony"],
            "credential": key.get(ceremony["publicKey"]),
            "mode": "session",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["email"] == EMAIL
    assert "__Host-waymark_session" in answer.headers["set-cookie"]


TAMPERED = {
    "another origin": {"origin": "https://evil.example"},
    "another rp id": {"rp_id": "evil.example"},
    "no user verification": {"verified": False},
    "a challenge of its own": {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
}


@pytest.mark.backend("sqlite")
async def test_tampered_assertions_are_refused(client: Client, key: SoftwareAuthenticator) -> None:
    for case, tamper in TAMPERED.items():
        ceremony = await sign_in_options(client)
        signed = key.get(ceremony["publicKey"], **tamper)
        answer = await verify(client, ceremony["ceremony"], signed)
        assert (answer.status_code, answer.json()["code"]) == (401, "passkey-refused"), case
        # The same key, untampered, on a fresh ceremony: the refusal was the tampering's.
        fresh = await sign_in_options(client)
        signed = key.get(fresh["publicKey"])
        assert (await verify(client, fresh["ceremony"], signed)).status_code == 200, case


@pytest.mark.backend("sqlite")
async def test_a_ceremony_answers_once_and_only_with_its_own_challenge(
    client: Client, key: SoftwareAuthenticator
) -> None:
    first, second = await sign_in_options(client), await sign_in_options(client)
    # An assertion over the first ceremony's challenge, sent with the second ceremony.
    crossed = await verify(client, second["ceremony"], key.get(first["publicKey"]))
    assert (crossed.status_code, crossed.json()["code"]) == (401, "passkey-refused")
    signed = key.get(first["publicKey"])
    assert (await verify(client, first["ceremony"], signed)).status_code == 200
    replayed = await verify(client, first["ceremony"], signed)
    assert (replayed.status_code, replayed.json()["code"]) == (401, "passkey-refused")
    unknown = await verify(client, "no-such-ceremony", key.get(first["publicKey"]))
    assert unknown.status_code == 401


@pytest.mark.backend("sqlite")
async def test_an_unknown_credential_is_refused(app: Litestar, client: Client) -> None:
    stranger = authenticator_for(app)
    stranger.user_handle = b"0" * 16
    ceremony = await sign_in_options(client)
    answer = await verify(client, ceremony["ceremony"], stranger.get(ceremony["publicKey"]))
    assert (answer.status_code, answer.json()["code"]) == (401, "passkey-refused")


@pytest.mark.backend("sqlite")
async def test_a_counter_that_goes_back_is_refused_and_reported(
    client: Client, key: SoftwareAuthenticator, member: dict[str, str]
) -> None:
    ceremony = await sign_in_options(client)
    assert (
        await verify(client, ceremony["ceremony"], key.get(ceremony["publicKey"], sign_count=7))
    ).status_code == 200
    for claimed in (7, 3):
        ceremony = await sign_in_options(client)
        answer = await verify(
            client, ceremony["ceremony"], key.get(ceremony["publicKey"], sign_count=claimed)
        )
        assert (answer.status_code, answer.json()["code"]) == (401, "passkey-counter-regressed")
    events = (await client.get("/api/v1/me/audit", headers=member)).json()
    reported = [e["detail"] for e in events if e["kind"] == "passkey.counter-regressed"]
    assert sorted((d["stored"], d["presented"]) for d in reported) == [(7, 3), (7, 7)]


@pytest.mark.backend("sqlite")
async def test_registrations_that_do_not_check_out_are_refused(
    app: Litestar, client: Client, member: dict[str, str]
) -> None:
    for tamper in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
        answer = await register(client, member, authenticator_for(app), **tamper)
        assert (answer.status_code, answer.json()["code"]) == (401, "passkey-refused")
    # A sign-in ceremony's challenge does not register a passkey.
    key = authenticator_for(app)
    ceremony = await sign_in_options(client)
    options = {"challenge": ceremony["publicKey"]["challenge"], "user": {"id": "AAAA"}}
    answer = await client.post(
        "/api/v1/me/passkeys",
        headers=member,
        json={"ceremony": ceremony["ceremony"], "credential": key.create(options)},
    )
    assert (answer.status_code, answer.json()["code"]) == (401, "passkey-refused")
    assert (await client.get("/api/v1/me/passkeys", headers=member)).json() == []
    # Garbage where the credential goes: refused, never a 500.
    garbage = await client.post(
        "/api/v1/me/passkeys",
        headers=member,
        json={"ceremony": "x", "credential": {"id": 1, "response": "no"}},
    )
    assert garbage.status_code == 401


@pytest.mark.backend("sqlite")
async def test_passkeys_are_renamed_and_removed_but_not_the_last_way_in(
    app: Litestar, client: Client, key: SoftwareAuthenticator, member: dict[str, str]
) -> None:
    [passkey] = (await client.get("/api/v1/me/passkeys", headers=member)).json()
    url = f"/api/v1/me/passkeys/{passkey['id']}"
    assert (await client.patch(url, headers=member, json={"name": "Phone"})).status_code == 204
    [renamed] = (await client.get("/api/v1/me/passkeys", headers=member)).json()
    assert renamed["name"] == "Phone"
    # The deployment turns passwords off: this passkey is the account's one way in.
    app.state.container.auth.password_on = False
    refused = await client.delete(url, headers=member)
    assert (refused.status_code, refused.json()["code"]) == (409, "last-way-in")
    app.state.container.auth.password_on = True
    assert (await client.delete(url, headers=member)).status_code == 204
    assert (await client.get("/api/v1/me/passkeys", headers=member)).json() == []
    ceremony = await sign_in_options(client)
    gone = await verify(client, ceremony["ceremony"], key.get(ceremony["publicKey"]))
    assert gone.status_code == 401


@pytest.mark.backend("sqlite")
async def test_turned_off_passkeys_sign_no_one_in(
    app: Litestar, client: Client, key: SoftwareAuthenticator
) -> None:
    ceremony = await sign_in_options(client)
    app.state.container.passkeys.on = False
    answer = await verify(client, ceremony["ceremony"], key.get(ceremony["publicKey"]))
    assert (answer.status_code, answer.json()["code"]) == (403, "strategy-disabled")
    refused = await client.post("/api/v1/auth/passkey/options")
    assert refused.status_code == 403


@pytest.mark.backend("sqlite")
async def test_ceremonies_begun_are_throttled_per_ip(client: Client) -> None:
    statuses = [(await client.post("/api/v1/auth/passkey/options")).status_code for _ in range(31)]
    assert statuses.count(200) == 30
    assert statuses[-1] == 429


@pytest.mark.backend("sqlite")
async def test_another_accounts_passkey_is_a_404(
    client: Client, key: SoftwareAuthenticator, member: dict[str, str], mail_dir: Path
) -> None:
    [passkey] = (await client.get("/api/v1/me/passkeys", headers=member)).json()
    await register_verified(client, mail_dir, "other@example.org")
    other = bearer(await login_tokens(client, "other@example.org"))
    url = f"/api/v1/me/passkeys/{passkey['id']}"
    assert (await client.delete(url, headers=other)).status_code == 404
    assert (await client.patch(url, headers=other, json={"name": "Mine"})).status_code == 404
    assert (await client.get("/api/v1/me/passkeys", headers=other)).json() == []
    [still] = (await client.get("/api/v1/me/passkeys", headers=member)).json()
    assert still["name"] == "Laptop"


@pytest.mark.backend("sqlite")
async def test_a_passkey_sign_in_is_already_two_factors_for_mfa(
    client: Client, member: dict[str, str], key: SoftwareAuthenticator
) -> None:
    """With MFA on, a password sign-in gets a challenge; a passkey's (verified by the user on
    the authenticator: `amr` says `mfa`) gets its tokens at once, and they say so."""
    await enrol(client, member)
    login = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert login.json()["mfa_required"] is True
    ceremony = await sign_in_options(client)
    answer = await verify(client, ceremony["ceremony"], key.get(ceremony["publicKey"]))
    assert answer.status_code == 200, answer.text
    claims = claims_of(answer.json()["access_token"])
    assert (claims["amr"], claims["acr"]) == (["hwk", "user", "mfa"], "aal2")
