"""Platform roles: granted and revoked by an operator, audited, shown on `GET /me`, counted
from the very next request (never kept in a token), never set by the account itself; and the
role-by-action matrix the API shows is the policy's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from waymark.container import Container
from waymark.features.accounts.administration import Administration
from waymark.kernel.authz import TEAM_ROLES, PlatformRole, TeamRole
from waymark.kernel.errors import Conflict
from waymark.settings import Settings

EMAIL = "ops@example.org"


@pytest.fixture
async def operator(settings: Settings) -> AsyncIterator[Administration]:
    """The accounts service as `waymark users grant` uses it: a container of its own."""
    container = Container(settings)
    try:
        yield container.accounts.administration
    finally:
        await container.aclose()


async def test_a_grant_counts_from_the_next_request_and_is_audited(
    client: Client, mail_dir: Path, operator: Administration
) -> None:
    await register_verified(client, mail_dir, EMAIL)
    headers = bearer(await login_tokens(client, EMAIL))
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["platform_role"] == "learner"
    assert me["team_reminders"] is True

    admin = operator
    had = await admin.set_role_by_email(EMAIL, PlatformRole.ADMIN, by="operator:test")
    assert had == PlatformRole.LEARNER
    # The same access token: the role is read with the account, not carried by the token.
    assert (await client.get("/api/v1/me", headers=headers)).json()["platform_role"] == "admin"

    with pytest.raises(Conflict):  # a revoke names the role it takes back
        await admin.set_role_by_email(
            EMAIL, PlatformRole.LEARNER, unless=PlatformRole.EDITOR, by="operator:test"
        )
    await admin.set_role_by_email(
        EMAIL, PlatformRole.LEARNER, unless=PlatformRole.ADMIN, by="operator:test"
    )
    assert (await client.get("/api/v1/me", headers=headers)).json()["platform_role"] == "learner"
    assert await admin.set_role_by_email("nobody@example.org", PlatformRole.ADMIN, by="x") is None

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


async def test_platform_admins_list_accounts_and_set_roles_others_cannot(
    client: Client, mail_dir: Path, operator: Administration
) -> None:
    for email in (EMAIL, "editor@example.org", "plain@example.org"):
        await register_verified(client, mail_dir, email)
    await operator.set_role_by_email(EMAIL, PlatformRole.ADMIN, by="operator:test")
    admin = bearer(await login_tokens(client, EMAIL))
    plain = bearer(await login_tokens(client, "plain@example.org"))

    # Function-level authorization (OWASP API5): not for learners, not for strangers.
    assert (await client.get("/api/v1/admin/users", headers=plain)).status_code == 403
    assert (await client.get("/api/v1/admin/users")).status_code == 401
    listed = await client.get("/api/v1/admin/users", params={"limit": 2}, headers=admin)
    assert listed.status_code == 200, listed.text
    first = listed.json()
    assert [u["email"] for u in first["items"]] == ["editor@example.org", EMAIL]
    rest = await client.get(
        "/api/v1/admin/users", params={"cursor": first["next_cursor"]}, headers=admin
    )
    assert [u["email"] for u in rest.json()["items"]] == ["plain@example.org"]
    found = await client.get("/api/v1/admin/users", params={"email": "edit"}, headers=admin)
    editor = found.json()["items"][0]
    assert (editor["email"], editor["platform_role"]) == ("editor@example.org", "learner")
    assert "password_hash" not in editor

    role = f"/api/v1/admin/users/{editor['id']}/role"
    refused = await client.put(role, json={"role": "admin"}, headers=plain)
    assert refused.status_code == 403
    assert (await client.put(role, json={"role": "root"}, headers=admin)).status_code == 422
    extra = await client.put(role, json={"role": "editor", "by": "me"}, headers=admin)
    assert extra.status_code == 422
    granted = await client.put(role, json={"role": "editor"}, headers=admin)
    assert granted.status_code == 200, granted.text
    assert granted.json()["platform_role"] == "editor"
    me_id = (await client.get("/api/v1/me", headers=admin)).json()["id"]
    own = await client.put(
        f"/api/v1/admin/users/{me_id}/role", json={"role": "learner"}, headers=admin
    )
    assert own.status_code == 409
    missing = f"/api/v1/admin/users/{uuid.uuid4()}/role"
    assert (await client.put(missing, json={"role": "editor"}, headers=admin)).status_code == 404

    # Demoted, the admin is refused on the very next request with the same token.
    await operator.set_role_by_email(
        EMAIL, PlatformRole.LEARNER, unless=PlatformRole.ADMIN, by="operator:test"
    )
    assert (await client.get("/api/v1/admin/users", headers=admin)).status_code == 403
    editor_tokens = bearer(await login_tokens(client, "editor@example.org"))
    audit = (await client.get("/api/v1/me/audit", headers=editor_tokens)).json()
    assert any(e["kind"] == "role.granted" and e["detail"]["by"] == f"admin:{me_id}" for e in audit)
