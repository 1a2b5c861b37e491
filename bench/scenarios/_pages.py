"""What the page scenarios share: the roadmap's page and a browser's session cookie."""

from __future__ import annotations

from bench.scenario import AppContext, Response
from bench.scenarios._accounts import signed_in_answer
from bench.scenarios._roadmap import ROADMAP_SLUG

PAGE_PATH = f"/roadmaps/{ROADMAP_SLUG}"
SESSION_COOKIE = "__Host-waymark_session"
FORM_COOKIE = "__Host-waymark_form"


def browser_login(ctx: AppContext, email: str, password: str, client: int) -> str:
    """A new browser session (`mode: session`, the cookie the web's sign-in sets too): the
    session cookie's value."""
    resp = signed_in_answer(ctx, email, password, client, mode="session")
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
