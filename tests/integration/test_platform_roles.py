"""Platform roles: granted and revoked by an operator, audited, shown on `GET /me`, counted
from the very next request (never kept in a token), never set by the account itself; and the
role-by-action matrix the API shows is the policy's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from waymark.container import Container
from waymark.features.accounts.profile import Profiles
from waymark.kernel.authz import TEAM_ROLES, PlatformRole, TeamRole
from waymark.kernel.errors import Conflict
from waymark.settings import Settings

EMAIL = "ops@example.org"


@pytest.fixture
async def operator(settings: Settings) -> AsyncIterator[Profiles]:
    """The accounts service as `waymark users grant` uses it: a container of its own."""
    container = Container(settings)
    try:
        yield container.accounts.profiles
    finally:
        await container.aclose()


async def test_a_grant_counts_from_the_next_request_and_is_audited(
    client: Client, mail_dir: Path, operator: Profiles
) -> None:
    await register_verified(client, mail_dir, EMAIL)
    headers = bearer(await login_tokens(client, EMAIL))
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["platform_role"] == "learner"
    assert me["team_reminders"] is True

    profiles = operator
    had = await profiles.set_platform_role(EMAIL, PlatformRole.ADMIN, by="operator:test")
    assert had == PlatformRole.LEARNER
    # The same access token: the role is read with the account, not carried by the token.
    assert (await client.get("/api/v1/me", headers=headers)).json()["platform_role"] == "admin"

    with pytest.raises(Conflict):  # a revoke names the role it takes back
        await profiles.set_platform_role(
            EMAIL, PlatformRole.LEARNER, unless=PlatformRole.EDITOR, by="operator:test"
        )
    await profiles.set_platform_role(
        EMAIL, PlatformRole.LEARNER, unless=PlatformRole.ADMIN, by="operator:test"
    )
    assert (await client.get("/api/v1/me", headers=headers)).json()["platform_role"] == "learner"
    assert (
        await profiles.set_platform_role("nobody@example.org", PlatformRole.ADMIN, by="x") is None
    )

    audit = (await client.get("/api/v1/me/audit", headers=headers)).json()
    kinds = [(e["kind"], e["detail"].get("role"), e["detail"].get("by")) for e in audit]
    assert ("role.revoked", "learner", "operator:test") in kinds
    assert ("role.granted", "admin", "operator:test") in kinds


async def test_an_account_cannot_give_itself_a_role(client: Client, mail_dir: Path) -> None:
    await register_verified(client, mail_dir, EMAIL)
    headers = bearer(await login_tokens(client, EMAIL))
    for body in ({"platform_role": "admin"}, {"role": "admin"}):
        refused = await client.patch("/api/v1/me", json=body, headers=headers)
        assert refused.status_code == 422, refused.text
    assert (await client.get("/api/v1/me", headers=headers)).json()["platform_role"] == "learner"
    # Its own settings it may change: the opt-out from team reminder mails.
    changed = await client.patch("/api/v1/me", json={"team_reminders": False}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["team_reminders"] is False


async def test_the_matrix_endpoint_is_the_policys_table(client: Client) -> None:
    answer = await client.get("/api/v1/authz/matrix")
    assert answer.status_code == 200
    body = answer.json()
    assert body["team_roles"]["manager"] == sorted(map(str, TEAM_ROLES[TeamRole.MANAGER]))
    assert "roles.grant" in body["platform_roles"]["admin"]
    assert "roles.grant" not in body["platform_roles"]["learner"]
    assert any("owner only" in rule for rule in body["rules"])
