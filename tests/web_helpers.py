"""Driving the pages in-process, as a browser would: an https client (so the jar keeps the
`__Host-` cookies), forms read off the page and posted back with their CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.cookiejar import CookieJar
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.auth_helpers import PASSWORD, VERIFY, token_in, wait_for_mail

Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@asynccontextmanager
async def browsing(app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        yield client


@contextmanager
def in_another_browser(client: Client, jar: CookieJar) -> Iterator[None]:
    """`client` with the cookies of another browser (`jar`, kept across uses) for a while.
    Not a second client: it would run the app's requests on an event loop of its own,
    where pooled connections of the app's loop cannot be used."""
    mine = client.cookies.jar
    client.cookies = jar  # type: ignore[assignment]
    try:
        yield
    finally:
        client.cookies = mine  # type: ignore[assignment]


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def post_form(
    client: Client, page: str, action: str, fields: dict[str, str], **kwargs: Any
) -> Any:
    """Open `page`, then post its form to `action` with `fields` and the page's token."""
    html = (await client.get(page)).text
    return await client.post(
        action, data={"csrf_token": csrf_of(html), **fields}, follow_redirects=False, **kwargs
    )


async def member(client: Client, mail_dir: Any, email: str, password: str = PASSWORD) -> None:
    """Sign up, confirm and sign in through the pages."""
    signed_up = await post_form(
        client, "/signup", "/signup", {"email": email, "password": password, "display_name": ""}
    )
    assert signed_up.status_code == 303, signed_up.text
    token = token_in(await wait_for_mail(mail_dir, email, VERIFY))
    confirmed = await post_form(
        client,
        f"/verify-email?token={token}",
        "/verify-email",
        {"token": token, "password": password},
    )
    assert confirmed.headers["location"] == "/login?notice=email-confirmed", confirmed.text
    signed_in = await post_form(
        client, "/login", "/login", {"email": email, "password": password, "next": "/"}
    )
    assert signed_in.status_code == 303, signed_in.text
