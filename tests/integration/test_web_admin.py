"""The admin page, in-process and without script: platform admins list accounts and set
their platform roles through plain forms; a learner is refused the page and the form (the
policy's 403, drawn as a page); and every learner may opt out of team reminder mails in the
settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_web_pages import assert_page
from tests.web_helpers import Client, in_another_browser, member, post_form
from waymark.container import Container
from waymark.kernel.authz import PlatformRole
from waymark.settings import Settings


@pytest.fixture
async def grant(settings: Settings) -> AsyncIterator[Any]:
    container = Container(settings)
    try:
        yield container.accounts.administration.set_role_by_email
    finally:
        await container.aclose()


async def test_an_admin_sets_a_role_by_a_form_a_learner_is_refused(
    web: Client, mail_dir: Path, grant: Any
) -> None:
    await member(web, mail_dir, "boss@example.org")
    await grant("boss@example.org", PlatformRole.ADMIN, by="operator:test")
    learner = CookieJar()
    with in_another_browser(web, learner):
        await member(web, mail_dir, "learner@example.org")
        assert "/admin/users" not in assert_page(await web.get("/"))
        assert_page(await web.get("/admin/users"), 403)

    home = assert_page(await web.get("/"))
    assert '<a href="/admin/users">Users</a>' in home
    listing = assert_page(await web.get("/admin/users"))
    assert "learner@example.org" in listing
    assert "boss@example.org" in listing
    learner_id = re.search(r'action="/admin/users/([0-9a-f-]{36})/role"', listing)
    assert learner_id, "a role form for the other account"
    action = f"/admin/users/{learner_id.group(1)}/role"
    refused = await post_form(web, "/admin/users", action, {"role": "root"})
    assert "role" in assert_page(refused, 422).lower()
    saved = await post_form(web, "/admin/users", action, {"role": "editor"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/users?notice=role-saved"
    shown = assert_page(await web.get("/admin/users?email=learner"))
    assert '<option value="editor" selected>' in shown
    assert "boss@example.org" not in shown

    # The learner's own post, with its own valid token, is refused by the policy.
    with in_another_browser(web, learner):
        forged = await post_form(web, "/", action, {"role": "admin"})
        assert_page(forged, 403)


async def test_reminder_mails_are_opted_out_in_the_settings(web: Client, mail_dir: Path) -> None:
    await member(web, mail_dir, "quiet@example.org")
    page = assert_page(await web.get("/settings"))
    assert re.search(r'id="team_reminders"[^>]* checked', page)
    saved = await post_form(
        web, "/settings", "/settings/profile", {"display_name": "Q", "time_zone": "UTC"}
    )
    assert saved.status_code == 303
    assert not re.search(
        r'id="team_reminders"[^>]* checked', assert_page(await web.get("/settings"))
    )
    await post_form(
        web,
        "/settings",
        "/settings/profile",
        {"display_name": "Q", "time_zone": "UTC", "team_reminders": "true"},
    )
    assert re.search(r'id="team_reminders"[^>]* checked', assert_page(await web.get("/settings")))
