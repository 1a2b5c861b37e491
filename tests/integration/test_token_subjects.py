"""Access tokens signed with our own key but naming the wrong things are refused with 401.

Only a holder of the signing key can make these, so they test defence in depth: a bug that
ever signed a bad `sub`, or a `sid` of another user's session, must not turn into a 500 or
into someone else's session.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from waymark.settings import Settings


@pytest.fixture
def mail_dir(settings: Settings) -> Path:
    return settings.var_dir / "mail"


def _signed(client: Client, subject: str, session_id: str) -> dict[str, str]:
    tokens = client.app.state.container.tokens
    return bearer({"access_token": tokens.issue(subject, session_id=session_id, now=time.time())})


@pytest.mark.parametrize(
    "subject",
    [
        "not-a-uuid",
        "",
        "12345678123456781234567812345678",
        "{12345678-1234-5678-1234-567812345678}",
    ],
)
async def test_a_subject_that_is_not_one_of_our_user_ids_is_401(
    client: Client, mail_dir: Path, subject: str
) -> None:
    await register_verified(client, mail_dir, "ann@example.org")
    tokens = await login_tokens(client, "ann@example.org")
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()
    family = next(
        s["id"]
        for s in (await client.get("/api/v1/me/sessions", headers=bearer(tokens))).json()
        if s["current"]
    )
    assert me["id"]
    response = await client.get("/api/v1/me", headers=_signed(client, subject, family))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "not-authenticated"


async def test_a_token_naming_another_users_session_is_401(client: Client, mail_dir: Path) -> None:
    await register_verified(client, mail_dir, "bea@example.org")
    await register_verified(client, mail_dir, "cid@example.org")
    bea = await login_tokens(client, "bea@example.org")
    cid = await login_tokens(client, "cid@example.org")
    bea_id = (await client.get("/api/v1/me", headers=bearer(bea))).json()["id"]
    cid_family = next(
        s["id"]
        for s in (await client.get("/api/v1/me/sessions", headers=bearer(cid))).json()
        if s["current"]
    )
    # Bea's id with Cid's live family: the family is live, but not Bea's.
    response = await client.get("/api/v1/me", headers=_signed(client, bea_id, cid_family))
    assert response.status_code == 401, response.text
    # The same family under its own user is accepted, so the refusal above is the binding.
    cid_id = (await client.get("/api/v1/me", headers=bearer(cid))).json()["id"]
    ok = await client.get("/api/v1/me", headers=_signed(client, cid_id, cid_family))
    assert ok.status_code == 200, ok.text


async def test_every_bad_token_gets_the_same_answer(client: Client, mail_dir: Path) -> None:
    """Whichever check refuses a token, the client sees one status, code, title and detail."""
    await register_verified(client, mail_dir, "dee@example.org")
    good = (await login_tokens(client, "dee@example.org"))["access_token"]
    head, payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    expired = client.app.state.container.tokens.issue(
        "00000000-0000-0000-0000-000000000000", session_id="f:x", now=time.time() - 3600
    )
    bodies = []
    for token in ("garbage", f"{head}.{payload}.{flipped}", f"{head}.{payload}", expired):
        response = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="waymark"'
        bodies.append({k: v for k, v in response.json().items() if k != "request_id"})
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0]["code"] == "not-authenticated"
