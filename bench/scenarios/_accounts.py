"""What the signed-in scenarios share: accounts made for the run, their access tokens, what a
limit needs to check those tokens as the app does, and tokens the app must refuse.

`python -m bench.scenarios._accounts EMAIL...` (the password on standard input) creates the
accounts in one process, as `waymark users create` does one at a time: a scenario that needs
dozens of learners does not pay a `waymark` start-up for each.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from bench.config import REPO_DIR
from bench.scenario import AppContext, Request, Response, fetch


def create_accounts(ctx: AppContext, emails: Sequence[str], password: str) -> None:
    """Verified accounts for `emails`, all with `password`; those already there are kept."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env |= {"WAYMARK_DATABASE_URL": ctx.database_url, "WAYMARK_VAR_DIR": str(ctx.workdir / "cli")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.scenarios._accounts", *emails],
        input=password + "\n",
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=60 + 2 * len(emails),
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"creating {len(emails)} accounts failed: {result.stderr[-2000:]}")


def signed_in_answer(
    ctx: AppContext, email: str, password: str, client: int, mode: str = "token"
) -> Response:
    """The app's 200 to a login (`mode`: `token`, or `session` for a browser's cookie);
    each from its own client address, so the per-IP login throttle does not count them
    together."""
    resp = fetch(
        ctx.port,
        Request(
            "/api/v1/auth/login",
            method="POST",
            headers={
                "content-type": "application/json",
                "x-forwarded-for": f"2001:db8:ffff::{client:x}",
            },
            body=json.dumps({"email": email, "password": password, "mode": mode}).encode(),
        ),
    )
    if resp.status != 200:
        raise RuntimeError(f"login answered {resp.status}: {resp.body[:300]!r}")
    return resp


def login(ctx: AppContext, email: str, password: str, client: int) -> str:
    """A fresh access token (a new refresh family)."""
    return str(json.loads(signed_in_answer(ctx, email, password, client).body)["access_token"])


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def signed_in_config(ctx: AppContext, sample: Response, token: str) -> dict[str, Any]:
    """What `bench/limits/_signed_in.py` needs: the database, the app's headers for the route
    (from `sample`, its answer), and how to check tokens as the app does (from `token`)."""
    if not ctx.redis_url:
        raise RuntimeError("signed-in limits need the production profile's Redis (families)")
    issued = claims(token)
    return {
        "database_url": ctx.database_url,
        "pool_size": ctx.server.pool_size,
        "headers": [list(h) for h in sample.headers],
        "jwks": json.loads(ctx.get("/.well-known/jwks.json").body),
        # What the app checks the claims against: its issuer and audience, as in the token
        # it issued, and its clock leeway (AuthSettings.token_leeway).
        "issuer": issued["iss"],
        "audience": issued["aud"],
        "leeway": float(os.environ.get("WAYMARK_AUTH__TOKEN_LEEWAY", "60")),
        "redis_url": ctx.redis_url,
        "redis_prefix": ctx.redis_prefix,
    }


def refused(
    ctx: AppContext,
    email: str,
    password: str,
    clients: tuple[int, int],
    request: Callable[[str], Request],
) -> list[Request]:
    """`request(token)` for two valid tokens whose family the app must not accept: one logged
    out (revoked), one whose family names another user (what a forged `sid` would look like).
    Both servers must refuse them (`Workload.refused`)."""
    revoked = login(ctx, email, password, clients[0])
    logout = fetch(
        ctx.port,
        Request(
            "/api/v1/auth/logout", method="POST", headers={"authorization": f"Bearer {revoked}"}
        ),
    )
    if logout.status != 204:
        raise RuntimeError(f"logout answered {logout.status}: {logout.body[:300]!r}")
    foreign = login(ctx, email, password, clients[1])
    family_id = claims(foreign)["sid"].removeprefix("f:")
    with Redis.from_url(str(ctx.redis_url)) as client:
        key = f"{ctx.redis_prefix}rf:{family_id}"
        # 0 fields added: the hash and its user_id were there, as in the app's key layout.
        if client.hset(key, "user_id", str(uuid.uuid4())) != 0:
            raise RuntimeError(f"no refresh family at {key}: the key layout changed")
    return [request(revoked), request(foreign)]


async def _create(emails: Sequence[str], password: str) -> None:
    from waymark.cli.common import load_settings
    from waymark.container import Container

    container = Container(load_settings())
    try:
        await asyncio.gather(
            *(
                container.accounts.registration.create(email=email, password=password)
                for email in emails
            )
        )
    finally:
        await container.aclose()


if __name__ == "__main__":
    asyncio.run(_create(sys.argv[1:], sys.stdin.readline().rstrip("\n")))
