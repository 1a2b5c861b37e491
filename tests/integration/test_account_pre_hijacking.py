"""Account pre-hijacking (docs/security.md, "Sign-up, confirmation and email change").

Someone signs up with an address that is not theirs and a password of their choosing. No
password the mailbox's owner did not type may survive on a confirmed account: confirming a
new account sets its password from what the person holding the link types, a later sign-up
replaces an unconfirmed one, and a reset link confirms the address as it sets the password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth_helpers import (
    PASSWORD,
    RESET,
    VERIFY,
    Client,
    bearer,
    login_tokens,
    settle_outbox,
    token_in,
    wait_for_mail,
)
from waymark.infra.sql.database import Database
from waymark.settings import Settings

PREY = "prey@example.com"
ATTACKERS = "the attacker's own passphrase"
OWNERS = PASSWORD


@pytest.fixture
def mail_dir(settings: Settings) -> Path:
    return settings.var_dir / "mail"


async def _register(client: Client, email: str, password: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    assert response.status_code == 202, response.text


async def _confirm(client: Client, token: str, password: str | None) -> int:
    body = {"token": token} | ({"password": password} if password is not None else {})
    return (await client.post("/api/v1/auth/verify-email", json=body)).status_code


async def _login_code(client: Client, email: str, password: str) -> str | None:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return None if response.status_code == 200 else response.json()["code"]


async def test_the_owner_signing_up_after_the_attacker_gets_her_own_password(
    client: Client, mail_dir: Path
) -> None:
    """The issue's scenario: attacker first, owner second, then the owner clicks the link
    from the first sign-up, which is also in her inbox."""
    await _register(client, PREY, ATTACKERS)
    attackers_link = token_in(await wait_for_mail(mail_dir, PREY))
    await _register(client, PREY, OWNERS)
    # Her sign-up mails her a fresh confirmation link, not "you already have an account".
    owners_link = token_in(await wait_for_mail(mail_dir, PREY, VERIFY, count=2))
    assert owners_link != attackers_link
    # The first sign-up's link died with the second.
    assert await _confirm(client, attackers_link, OWNERS) == 400
    assert await _confirm(client, owners_link, OWNERS) == 200
    assert await _login_code(client, PREY, ATTACKERS) == "invalid-credentials"
    assert await _login_code(client, PREY, OWNERS) is None


async def test_confirming_the_attackers_sign_up_sets_the_owners_password(
    client: Client, mail_dir: Path
) -> None:
    """The owner never signs up; she clicks the link the attacker's sign-up mailed her."""
    await _register(client, PREY, ATTACKERS)
    link = token_in(await wait_for_mail(mail_dir, PREY))
    assert await _confirm(client, link, OWNERS) == 200
    assert await _login_code(client, PREY, ATTACKERS) == "invalid-credentials"
    tokens = await login_tokens(client, PREY, OWNERS)
    # And so the attacker cannot move the account to an address of his.
    moved = await client.post(
        "/api/v1/me/email",
        json={"new_email": "attacker@example.net", "password": ATTACKERS},
        headers=bearer(tokens),
    )
    assert moved.status_code == 403


async def test_confirming_a_new_account_needs_a_password_and_keeps_the_link_alive(
    client: Client, mail_dir: Path
) -> None:
    await _register(client, PREY, ATTACKERS)
    link = token_in(await wait_for_mail(mail_dir, PREY))
    missing = await client.post("/api/v1/auth/verify-email", json={"token": link})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "password"
    weak = await client.post("/api/v1/auth/verify-email", json={"token": link, "password": "x"})
    assert weak.status_code == 422
    # Neither refusal used the link up.
    assert await _confirm(client, link, OWNERS) == 200
    assert await _confirm(client, link, OWNERS) == 400


async def test_a_reset_confirms_the_address_and_kills_the_confirmation_link(
    client: Client, mail_dir: Path
) -> None:
    """The owner thinks she has an account and asks for a reset: the reset link came through
    her mailbox, so it confirms the address; the attacker's confirmation link, still in her
    inbox, no longer sets anything."""
    await _register(client, PREY, ATTACKERS)
    link = token_in(await wait_for_mail(mail_dir, PREY))
    await client.post("/api/v1/auth/password/forgot", json={"email": PREY})
    reset = token_in(await wait_for_mail(mail_dir, PREY, RESET))
    done = await client.post(
        "/api/v1/auth/password/reset", json={"token": reset, "new_password": OWNERS}
    )
    assert done.status_code == 204
    assert await _login_code(client, PREY, OWNERS) is None
    assert await _confirm(client, link, ATTACKERS) == 400
    assert await _login_code(client, PREY, ATTACKERS) == "invalid-credentials"


async def test_a_confirmed_account_is_never_replaced_by_a_sign_up(
    client: Client, mail_dir: Path, db: Database
) -> None:
    await _register(client, PREY, OWNERS)
    assert await _confirm(client, token_in(await wait_for_mail(mail_dir, PREY)), OWNERS) == 200
    await _register(client, PREY, ATTACKERS)
    await settle_outbox(client, db)
    # No confirmation link this time: only the owner's notice.
    verifications = [
        path for path in mail_dir.glob("[!.]*.eml") if "Confirm your email" in path.read_text()
    ]
    assert len(verifications) == 1
    assert await _login_code(client, PREY, ATTACKERS) == "invalid-credentials"
    assert await _login_code(client, PREY, OWNERS) is None


async def test_an_email_change_confirmed_by_the_mailbox_owner_displaces_an_unconfirmed_squatter(
    client: Client, mail_dir: Path
) -> None:
    """The real owner of `prey@` already has an account under another address and moves it
    to `prey@`, where an attacker's unconfirmed sign-up squats: her confirmation proves she
    holds the mailbox, so the squatter's sign-up gives way."""
    await _register(client, PREY, ATTACKERS)
    owner = "owner-old@example.com"
    await _register(client, owner, OWNERS)
    assert await _confirm(client, token_in(await wait_for_mail(mail_dir, owner)), OWNERS) == 200
    tokens = await login_tokens(client, owner, OWNERS)
    asked = await client.post(
        "/api/v1/me/email", json={"new_email": PREY, "password": OWNERS}, headers=bearer(tokens)
    )
    assert asked.status_code == 202
    change_link = token_in(await wait_for_mail(mail_dir, PREY, VERIFY, count=2))
    confirmed = await client.post("/api/v1/auth/verify-email", json={"token": change_link})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["email"] == PREY
    assert await _login_code(client, PREY, OWNERS) is None
    assert await _login_code(client, PREY, ATTACKERS) == "invalid-credentials"
