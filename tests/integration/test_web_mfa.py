"""Two-step verification as pages, in-process: enrolling with the QR code, the recovery codes
shown once with their download, the challenge after a password sign-in (no session before
it), and turning it off with a recovery code."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pytest

from tests.auth_helpers import PASSWORD, text_of, wait_for_mail
from tests.mfa_helpers import code, next_step
from tests.web_helpers import Client, csrf_of, member, post_form

SECRET = re.compile(r'<code class="secret-key">([A-Z2-7]+)</code>')
CODES = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


@pytest.mark.backend("sqlite")
async def test_enrol_sign_in_with_the_challenge_and_turn_it_off(
    web: Client, mail_dir: Path
) -> None:
    email = "mfa-pages@example.org"
    await member(web, mail_dir, email)
    off = await web.get("/settings/mfa")
    assert "It is off" in off.text
    started = await post_form(web, "/settings/mfa", "/settings/mfa/totp", {})
    assert started.headers["location"] == "/settings/mfa#enrol"
    enrol = await web.get("/settings/mfa")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in enrol.text
    assert "<script>" not in enrol.text  # no inline script (the site's own are files)
    match = SECRET.search(enrol.text)
    assert match
    secret = base64.b32decode(match.group(1) + "=" * (-len(match.group(1)) % 8))
    wrong = await post_form(
        web, "/settings/mfa", "/settings/mfa/totp/confirm", {"code": "000000", "password": PASSWORD}
    )
    assert wrong.status_code == 401
    assert "That code is not valid" in wrong.text
    shown = await post_form(
        web,
        "/settings/mfa",
        "/settings/mfa/totp/confirm",
        {"code": code(web, secret), "password": PASSWORD},
    )
    assert shown.status_code == 200, shown.text
    codes = CODES.findall(shown.text)
    assert len(codes) == 10
    download = re.search(
        r'href="(data:text/plain;charset=utf-8,[^"]+)" download="([^"]+)"', shown.text
    )
    assert download
    assert download.group(2) == "waymark-recovery-codes.txt"
    assert codes[0] in html.unescape(download.group(1)).replace("%2D", "-")
    assert "It is on" in (await web.get("/settings/mfa")).text

    await web.post("/logout", data={"csrf_token": csrf_of((await web.get("/")).text)})
    signed = await post_form(
        web, "/login", "/login", {"email": email, "password": PASSWORD, "next": "/settings"}
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/login/mfa?next=/settings"
    assert "__Host-waymark_session" not in signed.headers.get("set-cookie", "")
    assert (await web.get("/settings", follow_redirects=False)).status_code == 303  # not in yet
    next_step(web)
    refused = await post_form(
        web, "/login/mfa", "/login/mfa", {"code": "123456", "next": "/settings"}
    )
    assert refused.status_code == 401
    assert "That code is not valid" in refused.text
    passed = await post_form(
        web, "/login/mfa", "/login/mfa", {"code": code(web, secret), "next": "/settings"}
    )
    assert passed.status_code == 303, passed.text
    assert passed.headers["location"] == "/settings"
    assert (await web.get("/settings")).status_code == 200

    mail_on = await post_form(
        web,
        "/settings/mfa",
        "/settings/mfa/email",
        {"on": "1", "kind": "recovery", "code": codes[2]},
    )
    assert mail_on.headers["location"] == "/settings/mfa?notice=mail-on", mail_on.text
    await web.post("/logout", data={"csrf_token": csrf_of((await web.get("/")).text)})
    await post_form(web, "/login", "/login", {"email": email, "password": PASSWORD, "next": "/"})
    asked = await post_form(web, "/login/mfa", "/login/mfa/email", {"next": "/"})
    assert "A code is on its way" in asked.text
    mailed = re.search(
        r"\b(\d{6})\b", text_of(await wait_for_mail(mail_dir, email, "Your sign-in code"))
    )
    assert mailed
    by_mail = await post_form(
        web, "/login/mfa", "/login/mfa", {"kind": "email", "code": mailed.group(1), "next": "/"}
    )
    assert by_mail.headers["location"] == "/", by_mail.text

    turned_off = await post_form(
        web, "/settings/mfa", "/settings/mfa/disable", {"kind": "recovery", "code": codes[1]}
    )
    assert turned_off.headers["location"] == "/settings/mfa?notice=mfa-off", turned_off.text
    assert "It is off" in (await web.get("/settings/mfa?notice=mfa-off")).text


@pytest.mark.backend("sqlite")
async def test_the_challenge_page_without_a_challenge_sends_to_sign_in(web: Client) -> None:
    asked = await web.get("/login/mfa?next=/settings", follow_redirects=False)
    assert (asked.status_code, asked.headers["location"]) == (303, "/login?next=/settings")
