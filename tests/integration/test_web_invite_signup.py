"""Signing up from an invite's page comes back to the invite, through the pages, without
script, on SQLite and PostgreSQL: the invite's landing page links to sign-up with `next`,
the sign-up form carries it, the confirmation link mailed carries it (on Waymark's own
address), the confirmation leads to sign-in with it, and signing in lands on the invite,
which is then accepted. A `next` off the site is dropped at every step (the default page
instead), and the mailed link still works once only."""

from __future__ import annotations

import re
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar

from tests.auth_helpers import PASSWORD, VERIFY, text_of, wait_for_mail
from tests.integration.test_web_pages import assert_page
from tests.integration.test_web_teams import OWNER, invite, make_team
from tests.web_helpers import Client, in_another_browser, member, post_form
from waymark.infra.sql.database import Database

pytestmark = pytest.mark.usefixtures("backend_roadmap")
NEWCOMER = "newcomer@example.org"
OFF_SITE = (
    "//evil.example",
    "///evil.example",
    "https://evil.example/invites/x",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/invites/x\r\nSet-Cookie: a=b",
    "evil.example",
)
_LINK = re.compile(r"(https?://\S+/verify-email\?\S+)")


def mailed_link(text: str) -> tuple[str, str, dict[str, list[str]]]:
    """The confirmation link of a mail: its origin, its path and its query."""
    found = _LINK.search(text)
    assert found, "no confirmation link in the mail"
    parts = urlsplit(found.group(1))
    return f"{parts.scheme}://{parts.netloc}", parts.path, parse_qs(parts.query)


def hidden_next(page: str) -> list[str]:
    """The `next` the page's forms carry (but the theme switch's, which comes back here)."""
    page = re.sub(r'<form class="theme-switch".*?</form>', "", page, flags=re.S)
    return re.findall(r'<input type="hidden" name="next" value="([^"]*)">', page)


async def test_a_newcomer_signs_up_from_the_invite_and_lands_on_the_team(
    web: Client, db: Database, mail_dir: Path, app: Litestar
) -> None:
    await member(web, mail_dir, OWNER)
    team_url = f"/teams/{await make_team(web)}"
    token = await invite(web, db, mail_dir, team_url, NEWCOMER)
    here = f"/invites/{token}"

    with in_another_browser(web, CookieJar()):
        landing = assert_page(await web.get(here))
        assert f'href="/signup?next={here}"' in landing
        assert f'href="/login?next={here}"' in landing

        signup_page = assert_page(await web.get(f"/signup?next={here}"))
        assert hidden_next(signup_page) == [here]
        assert f'href="/login?next={here}"' in signup_page  # "already have an account?"
        signed_up = await post_form(
            web,
            f"/signup?next={here}",
            "/signup",
            {"email": NEWCOMER, "password": PASSWORD, "display_name": "New", "next": here},
        )
        assert (signed_up.status_code, signed_up.headers["location"]) == (
            303,
            f"/signup?notice=check-inbox&next={here}",
        )

        # The mail's link is Waymark's own, with the token and the way back.
        origin, path, query = mailed_link(text_of(await wait_for_mail(mail_dir, NEWCOMER, VERIFY)))
        assert origin == app.state.container.settings.public_url.rstrip("/")
        assert path == "/verify-email"
        assert query["next"] == [here]
        (verify_token,) = query["token"]
        opened = f"{path}?token={verify_token}&next={here}"
        verify_page = assert_page(await web.get(opened))
        assert hidden_next(verify_page) == [here, here]  # the confirmation, and a new link
        fields = {"token": verify_token, "password": PASSWORD, "next": here}
        confirmed = await post_form(web, opened, "/verify-email", fields)
        assert (confirmed.status_code, confirmed.headers["location"]) == (
            303,
            f"/login?notice=email-confirmed&next={here}",
        )
        # The link works once: a second use is refused, and leads nowhere.
        again = assert_page(await post_form(web, opened, "/verify-email", fields), 400)
        assert "The link or code is invalid, used or expired" in again

        login_page = assert_page(await web.get(confirmed.headers["location"]))
        assert "Your address is confirmed and your password set. Sign in." in login_page
        assert hidden_next(login_page) == [here]
        signed_in = await post_form(
            web,
            confirmed.headers["location"],
            "/login",
            {"email": NEWCOMER, "password": PASSWORD, "next": here},
        )
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, here)

        landing = assert_page(await web.get(here))
        assert "Join Backend guild" in landing
        joined = await post_form(web, here, f"{here}/accept", {})
        assert (joined.status_code, joined.headers["location"]) == (
            303,
            f"{team_url}?notice=team-joined",
        )
        team_page = assert_page(await web.get(joined.headers["location"]))
        assert "Welcome to the team." in team_page
        assert NEWCOMER in team_page
        assert 'You are <span class="role role-member">' in team_page


@pytest.mark.usefixtures("unthrottled")
async def test_a_next_off_the_site_is_dropped_at_every_step(
    web: Client, db: Database, mail_dir: Path
) -> None:
    for index, target in enumerate(OFF_SITE):
        form = assert_page(await web.get("/signup", params={"next": target}))
        assert hidden_next(form) == [], target
        assert 'href="/login">Sign in' in form
        email = f"wanderer{index}@example.org"
        fields = {"email": email, "password": PASSWORD, "display_name": "", "next": target}
        signed_up = await post_form(web, "/signup", "/signup", fields)
        assert signed_up.headers["location"] == "/signup?notice=check-inbox", target

    # The links mailed lead nowhere but the confirmation page.
    for index, target in enumerate(OFF_SITE):
        mail = text_of(await wait_for_mail(mail_dir, f"wanderer{index}@example.org", VERIFY))
        _, path, query = mailed_link(mail)
        assert (path, sorted(query)) == ("/verify-email", ["token"]), target
        assert "evil" not in mail
        assert "javascript" not in mail

    # Nor does the confirmation, given one by hand.
    _, _, query = mailed_link(text_of(await wait_for_mail(mail_dir, "wanderer0@example.org")))
    (verify_token,) = query["token"]
    for target in OFF_SITE:
        page = assert_page(
            await web.get("/verify-email", params={"token": verify_token, "next": target})
        )
        assert hidden_next(page) == [], target
    confirmed = await post_form(
        web,
        f"/verify-email?token={verify_token}",
        "/verify-email",
        {"token": verify_token, "password": PASSWORD, "next": OFF_SITE[0]},
    )
    assert confirmed.headers["location"] == "/login?notice=email-confirmed"

    # Signed in, sign-up sends to the path asked for if it is local, else home.
    await member(web, mail_dir, "settled@example.org")
    for target in OFF_SITE:
        asked = await web.get("/signup", params={"next": target}, follow_redirects=False)
        assert (asked.status_code, asked.headers["location"]) == (303, "/"), target
    asked = await web.get("/signup?next=/settings", follow_redirects=False)
    assert asked.headers["location"] == "/settings"
