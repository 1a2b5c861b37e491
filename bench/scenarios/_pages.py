"""What the page scenarios share: the roadmap's page and a browser's session cookie."""

from __future__ import annotations

import json

from bench.scenario import AppContext, Request, Response, fetch
from bench.scenarios._roadmap import ROADMAP_SLUG

PAGE_PATH = f"/roadmaps/{ROADMAP_SLUG}"
SESSION_COOKIE = "__Host-waymark_session"
FORM_COOKIE = "__Host-waymark_form"


def browser_login(ctx: AppContext, email: str, password: str, client: int) -> str:
    """A new browser session (`mode: session`, the cookie the web's sign-in sets too), from
    its own client address (the login throttle counts per IP): the session cookie's value."""
    resp = fetch(
        ctx.port,
        Request(
            "/api/v1/auth/login",
            method="POST",
            headers={
                "content-type": "application/json",
                "x-forwarded-for": f"2001:db8:fffe::{client:x}",
            },
            body=json.dumps({"email": email, "password": password, "mode": "session"}).encode(),
        ),
    )
    if resp.status != 200:
        raise RuntimeError(f"session login answered {resp.status}: {resp.body[:300]!r}")
    for name, value in resp.headers:
        if name.lower() == "set-cookie" and value.startswith(f"{SESSION_COOKIE}="):
            return value.split(";", 1)[0].split("=", 1)[1]
    raise RuntimeError("session login set no session cookie")


def page(ctx: AppContext, cookie: str) -> Response:
    """The app's page for a browser sending `cookie`; it must be a 200."""
    resp = ctx.get(PAGE_PATH, {"cookie": cookie})
    if resp.status != 200:
        raise RuntimeError(f"GET {PAGE_PATH} answered {resp.status}: {resp.body[:300]!r}")
    return resp
