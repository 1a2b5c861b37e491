"""The web app's pages, in-process: every mailed link lands on a working page, forms are
checked by the API's own rules and show what is wrong by each field, every change needs
its CSRF token, account settings do what they say, errors are pages a person can act on,
and no page carries inline code or leaves the strict CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar

from tests.auth_helpers import (
    PASSWORD,
    PASSWORD_CHANGED,
    RESET,
    VERIFY,
    mails,
    text_of,
    token_in,
    wait_for_mail,
)
from tests.web_helpers import Client, csrf_of, in_another_browser, member, post_form
from waymark.kernel.paths import local_path, with_next

pytestmark = pytest.mark.usefixtures("backend_roadmap")
PAGES = ["/", "/signup", "/login", "/forgot-password", "/reset-password", "/verify-email"]


class InlineCode(HTMLParser):
    """Inline code in a page, as a browser's tokenizer finds it (text that only looks like
    an attribute, such as a note about `onerror=`, is text): scripts without `src`, style
    elements and attributes, event handler attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if (tag == "script" and "src" not in names) or tag == "style":
            self.found.append(f"<{tag}>")
        self.found += [f"<{tag} {name}>" for name in names if name == "style" or name[:2] == "on"]


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_page(response: Any, status: int = 200) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert inline_code(response.text) == []
    return str(response.text)


async def test_pages_are_html_under_a_strict_csp_without_inline_code(web: Client) -> None:
    for path in [*PAGES, "/roadmaps/backend"]:
        assert_page(await web.get(path))


async def test_every_link_in_every_mail_lands_on_a_working_page(
    web: Client, mail_dir: Path, settings: Any
) -> None:
    email = "links@example.org"
    await member(web, mail_dir, email)
    # The rest of the mails Waymark sends: someone signs up again, a reset, a password
    # change, an address change and its confirmation.
    await post_form(web, "/forgot-password", "/forgot-password", {"email": email})
    await wait_for_mail(mail_dir, email, RESET)
    await post_form(
        web,
        "/settings",
        "/settings/password",
        {"current_password": PASSWORD, "new_password": "another long passphrase"},
    )
    await wait_for_mail(mail_dir, email, PASSWORD_CHANGED)
    await post_form(
        web,
        "/settings",
        "/settings/email",
        {"new_email": "moved@example.org", "password": "another long passphrase"},
    )
    change = await wait_for_mail(mail_dir, "moved@example.org", VERIFY)
    await post_form(web, "/", "/logout", {})
    again = await post_form(
        web, "/signup", "/signup", {"email": email, "password": PASSWORD, "display_name": ""}
    )
    assert again.status_code == 303
    await wait_for_mail(mail_dir, email, "Someone tried to sign up with your address")
    # Confirming the change from a browser that is signed out.
    token = token_in(change)
    shown = assert_page(await web.get(f"/verify-email?token={token}"))
    assert "Confirm your new address" in shown
    moved = await web.post(
        "/verify-email", data={"csrf_token": csrf_of(shown), "token": token}, follow_redirects=False
    )
    assert moved.headers["location"] == "/login?notice=email-changed"
    await wait_for_mail(mail_dir, email, "Your email address was changed")

    base = settings.public_url
    links = {
        word
        for path in sorted(mail_dir.glob("[!.]*.eml"))
        for message in mails(mail_dir, _to(path), _subject(path))
        for word in text_of(message).split()
        if word.startswith(base)
    }
    paths = {link.removeprefix(base).split("?")[0] for link in links}
    assert {"/verify-email", "/reset-password", "/forgot-password", "/login"} <= paths
    for link in links:
        assert_page(await web.get(link.removeprefix(base)))


def _to(path: Path) -> str:
    return _header(path, "To")


def _subject(path: Path) -> str:
    return _header(path, "Subject")


def _header(path: Path, name: str) -> str:
    from email import policy
    from email.parser import BytesParser

    return str(BytesParser(policy=policy.default).parsebytes(path.read_bytes())[name])


async def test_confirming_a_new_account_takes_its_password(web: Client, mail_dir: Path) -> None:
    """GET never uses the link (mail scanners follow links); the person's form does, and
    the password typed there becomes the account's."""
    email = "confirm@example.org"
    await post_form(web, "/signup", "/signup", {"email": email, "password": "typed at sign-up!"})
    token = token_in(await wait_for_mail(mail_dir, email))
    for _ in range(2):
        shown = assert_page(await web.get(f"/verify-email?token={token}"))
        assert "Confirm your account" in shown
    empty = await web.post(
        "/verify-email",
        data={"csrf_token": csrf_of(shown), "token": token, "password": ""},
    )
    page = assert_page(empty, 422)
    assert 'id="password-error"' in page
    assert "This field is required." in page
    done = await web.post(
        "/verify-email",
        data={"csrf_token": csrf_of(shown), "token": token, "password": "chosen by the owner"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/login?notice=email-confirmed"
    used = assert_page(await web.get(f"/verify-email?token={token}"))
    assert "This link does not work" in used
    wrong = await post_form(
        web, "/login", "/login", {"email": email, "password": "typed at sign-up!"}
    )
    assert_page(wrong, 401)
    right = await post_form(
        web, "/login", "/login", {"email": email, "password": "chosen by the owner"}
    )
    assert right.status_code == 303


async def test_forms_show_what_is_wrong_by_each_field(web: Client) -> None:
    refused = await post_form(
        web,
        "/signup",
        "/signup",
        {"email": "Eve <eve@example.org>", "password": "password", "display_name": "Eve"},
    )
    page = assert_page(refused, 422)
    assert 'id="email-error"' in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="email-error"' in page
    assert 'value="Eve &lt;eve@example.org&gt;"' in page  # kept, escaped
    weak = await post_form(
        web, "/signup", "/signup", {"email": "eve@example.org", "password": "password"}
    )
    page = assert_page(weak, 422)
    assert 'id="password-error"' in page
    assert 'value="password"' not in page  # a password is never sent back


async def test_a_form_without_its_token_is_refused(web: Client, mail_dir: Path) -> None:
    await web.get("/login")  # the form cookie is set
    for data in ({}, {"csrf_token": "forged-by-another-site"}):
        refused = await web.post("/login", data={"email": "a@example.org", "password": "x", **data})
        page = assert_page(refused, 403)
        assert "This form could not be sent" in page
    await member(web, mail_dir, "csrf@example.org")
    forged = await web.post(
        "/settings/profile", data={"csrf_token": "not-the-session-one", "display_name": "X"}
    )
    assert_page(forged, 403)
    # A token from before sign-in is not the session's.
    assert (await web.get("/settings")).text.count('value="not-the-session-one"') == 0


async def test_sign_in_goes_back_where_it_was_asked_and_only_there(
    web: Client, mail_dir: Path
) -> None:
    asked = await web.get("/settings", follow_redirects=False)
    assert (asked.status_code, asked.headers["location"]) == (303, "/login?next=/settings")
    await member(web, mail_dir, "next@example.org")
    await web.post("/logout", data={"csrf_token": csrf_of((await web.get("/")).text)})
    back = await post_form(
        web,
        "/login?next=/settings",
        "/login",
        {"email": "next@example.org", "password": PASSWORD, "next": "/settings"},
    )
    assert back.headers["location"] == "/settings"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/settings", "/settings"),
        ("/roadmaps/backend#topic-x", "/roadmaps/backend#topic-x"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        (None, "/"),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


@pytest.mark.parametrize(
    ("url", "target", "expected"),
    [
        ("/signup", "/invites/abc_-9", "/signup?next=/invites/abc_-9"),
        (
            "/login?notice=email-confirmed",
            "/invites/x",
            "/login?notice=email-confirmed&next=/invites/x",
        ),
        (
            "/login",
            "/teams/t?roadmap=backend&x=1#progress",
            "/login?next=/teams/t%3Froadmap%3Dbackend%26x%3D1%23progress",
        ),
        (
            "https://waymark.example/verify-email?token=t",
            "//evil.example",
            "https://waymark.example/verify-email?token=t",
        ),
        ("/signup", "https://evil.example", "/signup"),
        ("/signup", "/\\evil.example", "/signup"),
        ("/signup", "", "/signup"),
        ("/signup", None, "/signup"),
    ],
)
def test_a_next_path_is_added_only_when_local_and_quoted(
    url: str, target: str | None, expected: str
) -> None:
    assert with_next(url, target) == expected


async def test_settings(web: Client, mail_dir: Path, app: Litestar) -> None:
    email = "settings@example.org"
    await member(web, mail_dir, email)
    page = assert_page(await web.get("/settings"))
    for heading in ("Profile", "Email address", "Password", "Sessions", "Activity"):
        assert f">{heading}</h2>" in page
    assert "login.succeeded" in page  # the audit log

    saved = await post_form(
        web, "/settings", "/settings/profile", {"display_name": "Grace", "time_zone": "Asia/Tokyo"}
    )
    assert saved.headers["location"] == "/settings?notice=profile-saved"
    page = assert_page(await web.get("/settings?notice=profile-saved"))
    assert "Your profile is saved." in page
    assert 'value="Grace"' in page
    assert "<option selected>Asia/Tokyo</option>" in page
    bad_zone = await post_form(
        web, "/settings", "/settings/profile", {"display_name": "G", "time_zone": "Mars/Olympus"}
    )
    assert 'id="time_zone-error"' in assert_page(bad_zone, 422)

    # A second browser signs in; the first ends that session from its list.
    other = CookieJar()
    with in_another_browser(web, other):
        signed_in = await post_form(web, "/login", "/login", {"email": email, "password": PASSWORD})
        assert signed_in.status_code == 303
    page = assert_page(await web.get("/settings"))
    refs = re.findall(r'name="session" value="([^"]+)"', page)
    assert len(refs) == 2
    current = re.search(r'this one</strong>.*?name="session" value="([^"]+)"', page, re.S)
    assert current is not None
    other_ref = next(ref for ref in refs if ref != current.group(1))
    ended = await post_form(web, "/settings", "/settings/sessions/end", {"session": other_ref})
    assert ended.headers["location"] == "/settings?notice=session-ended#sessions"
    with in_another_browser(web, other):
        assert (await web.get("/settings", follow_redirects=False)).status_code == 303

    wrong = await post_form(
        web,
        "/settings",
        "/settings/password",
        {"current_password": "not it", "new_password": "a new long passphrase"},
    )
    assert 'id="current_password-error"' in assert_page(wrong, 403)
    changed = await post_form(
        web,
        "/settings",
        "/settings/password",
        {
            "current_password": PASSWORD,
            "new_password": "a new long passphrase",
            "end_other_sessions": "true",
        },
    )
    assert changed.headers["location"] == "/settings?notice=password-changed"
    assert "__Host-waymark_session=" in changed.headers["set-cookie"]  # a new id
    assert (await web.get("/settings")).status_code == 200

    deleted = await post_form(
        web, "/settings", "/settings/delete", {"password": "a new long passphrase"}
    )
    assert deleted.headers["location"] == "/?notice=account-deleted"
    refused = await post_form(
        web, "/login", "/login", {"email": email, "password": "a new long passphrase"}
    )
    assert_page(refused, 401)


async def test_sign_out_everywhere(web: Client, mail_dir: Path) -> None:
    await member(web, mail_dir, "everywhere@example.org")
    out = await post_form(web, "/settings", "/settings/sessions/end-all", {})
    assert out.headers["location"] == "/login?notice=signed-out-everywhere"
    assert (await web.get("/settings", follow_redirects=False)).status_code == 303


async def test_forgot_and_reset_through_the_pages(web: Client, mail_dir: Path) -> None:
    email = "reset@example.org"
    await member(web, mail_dir, email)
    sent = await post_form(web, "/forgot-password", "/forgot-password", {"email": email})
    assert sent.headers["location"] == "/forgot-password?notice=reset-sent"
    token = token_in(await wait_for_mail(mail_dir, email, RESET))
    short = await post_form(
        web,
        f"/reset-password?token={token}",
        "/reset-password",
        {"token": token, "new_password": "short"},
    )
    assert 'id="new_password-error"' in assert_page(short, 422)
    reset = await post_form(
        web,
        f"/reset-password?token={token}",
        "/reset-password",
        {"token": token, "new_password": "reset to this passphrase"},
    )
    assert reset.headers["location"] == "/login?notice=password-reset"
    # Every session ended: this browser is signed out too.
    assert (await web.get("/settings", follow_redirects=False)).status_code == 303
    dead = await post_form(
        web,
        f"/reset-password?token={token}",
        "/reset-password",
        {"token": token, "new_password": "once more, please"},
    )
    page = assert_page(dead, 400)
    assert 'href="/forgot-password"' in page


async def test_error_pages_a_person_can_act_on(web: Client, app: Litestar) -> None:
    missing = assert_page(await web.get("/no/such/page"), 404)
    assert "There is nothing here" in missing
    api = await web.get("/api/v1/no/such/thing")
    assert api.headers["content-type"] == "application/problem+json"
    assert (await web.get("/roadmaps/nope")).status_code == 404

    for _ in range(5):
        await post_form(web, "/login", "/login", {"email": "x@example.org", "password": "wrong"})
    limited = await post_form(
        web, "/login", "/login", {"email": "x@example.org", "password": "wrong"}
    )
    page = assert_page(limited, 429)
    assert limited.headers["retry-after"].isdigit()
    assert "Try again in" in page

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    app.state.container.roadmaps.list_roadmaps = broken
    failed = await web.get("/")
    page = assert_page(failed, 500)
    assert failed.headers["x-request-id"] in page
    assert "boom" not in page


async def test_static_files_have_hashed_names_and_live_a_year(web: Client) -> None:
    page = (await web.get("/")).text
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert {u.split(".")[0] for u in urls} >= {"/static/app", "/static/boot", "/static/favicon"}
    for url in urls:
        assert re.fullmatch(r"/static/[a-z-]+\.[0-9a-f]{16}\.(css|js|svg)", url), url
        response = await web.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    assert (await web.get("/static/app.css")).status_code == 404  # only by its hashed name


async def test_the_roadmap_page(web: Client, mail_dir: Path) -> None:
    page = assert_page(await web.get("/roadmaps/backend"))
    assert (
        len(re.findall(r'<a href="#topic-[^"]+"[^>]*class="topic (?:core|extra) pending"', page))
        == 45
    )
    assert page.count('data-topic-id="') >= 45 * 3  # node, outline entry, panel
    assert page.count('role="dialog"') == 45
    assert page.count("How Waymark builds this") == 45
    assert '<section class="outline" id="outline"' in page
    assert "Not started" in page
    # The coverage rows come from the shipped mapping, not a copy.
    assert "Production relational store on asyncpg" in page
    assert 'data-hook="status-actions"' not in page  # signed out: nothing to mark
    await member(web, mail_dir, "hooks@example.org")
    page = assert_page(await web.get("/roadmaps/backend"))
    assert page.count('data-hook="status-actions"') == 45
    assert page.count('data-hook="notes"') == 45
