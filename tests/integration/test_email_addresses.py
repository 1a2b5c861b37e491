"""Email addresses at every way in (issue 8): one plain address or a 422 naming the field, and
one mailbox, however it is spelt, holds one account. In-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.auth_helpers import (
    ACCOUNT_EXISTS,
    PASSWORD,
    Client,
    bearer,
    login_tokens,
    register_verified,
    token_in,
    wait_for_mail,
)

# What the security probe got accepted, each standing for a way to be read as another mailbox
# (or as none), to be a second account of one mailbox, or to look like another address.
PROBE = [
    "victim.example.com<attacker@evil.com>",
    "grp:attacker@evil.com;",
    "a,b@example.com",
    "=?utf-8?q?attacker=40evil.com?=@example.com",
    "ada@example.com.",
    "a\u200bda@example.com",
    "\u202eada@example.com",
    "<b>ada</b>@example.com",
]


def assert_refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation-failed"
    [error] = problem["errors"]
    assert error["field"] == field
    assert error["message"]


async def test_anonymous_entry_points_refuse_what_is_not_one_plain_address(
    client: Client,
) -> None:
    for address in PROBE:
        bodies = {
            "/api/v1/auth/register": {"email": address, "password": PASSWORD},
            "/api/v1/auth/login": {"email": address, "password": PASSWORD},
            "/api/v1/auth/password/forgot": {"email": address},
            "/api/v1/auth/verify-email/resend": {"email": address},
        }
        for path, body in bodies.items():
            assert_refused(await client.post(path, json=body), "email")


async def test_an_email_change_refuses_what_is_not_one_plain_address(
    client: Client, mail_dir: Path
) -> None:
    await register_verified(client, mail_dir, "mover@example.org")
    tokens = await login_tokens(client, "mover@example.org")
    for address in PROBE:
        response = await client.post(
            "/api/v1/me/email",
            json={"new_email": address, "password": PASSWORD},
            headers=bearer(tokens),
        )
        assert_refused(response, "new_email")


async def test_one_mailbox_holds_one_account_however_it_is_spelt(
    client: Client, mail_dir: Path
) -> None:
    """Unicode or punycode domain, NFC or NFD, upper or lower case: one account, whose mail
    goes to the one canonical address."""
    canonical = "ada@xn--bcher-kva.de"
    first = await client.post(
        "/api/v1/auth/register", json={"email": "Ada@Bücher.de", "password": PASSWORD}
    )
    assert first.status_code == 202
    token = token_in(await wait_for_mail(mail_dir, canonical))
    confirm = {"token": token, "password": PASSWORD}
    assert (await client.post("/api/v1/auth/verify-email", json=confirm)).is_success
    again = await client.post(
        "/api/v1/auth/register",
        json={"email": "ada@xn--BCHER-KVA.de", "password": "a different passphrase"},
    )
    assert again.status_code == 202
    await wait_for_mail(mail_dir, canonical, ACCOUNT_EXISTS)  # a notice, not a second account
    tokens = await login_tokens(client, "ADA@bu\u0308cher.de")  # NFD, upper case
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()
    assert me["email"] == canonical


async def test_an_internationalised_address_is_stored_and_mailed_in_its_canonical_form(
    client: Client, mail_dir: Path
) -> None:
    registered = await client.post(
        "/api/v1/auth/register", json={"email": "Jose\u0301@Bücher.DE", "password": PASSWORD}
    )
    assert registered.status_code == 202
    canonical = "josé@xn--bcher-kva.de"  # NFC, lower case, the domain in A-labels
    mail = await wait_for_mail(mail_dir, canonical)
    [path] = mail_dir.glob("[!.]*.eml")
    assert f"To: {canonical}\r\n".encode() in path.read_bytes()  # UTF-8, RFC 6532
    verified = await client.post(
        "/api/v1/auth/verify-email", json={"token": token_in(mail), "password": PASSWORD}
    )
    assert verified.json()["email"] == canonical


async def test_openapi_documents_an_email_string(client: Client) -> None:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    for schema, field in [
        ("RegisterRequest", "email"),
        ("LoginRequest", "email"),
        ("ForgotPasswordRequest", "email"),
        ("ChangeEmailRequest", "new_email"),
    ]:
        documented = schemas[schema]["properties"][field]
        assert documented["type"] == "string"
        assert documented["format"] == "idn-email"
        assert documented["maxLength"] == 254
