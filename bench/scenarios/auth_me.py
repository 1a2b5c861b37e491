"""`auth-me`: an authenticated read, `GET /api/v1/me` with a Bearer access token.

The app verifies the PS256 token, checks in Redis that its refresh family is live, and reads
the user row. The limit does the same three things the cheapest correct way (see
`bench/limits/raw_auth_me.py`): what an authenticated request cannot avoid.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from typing import Any

from redis import Redis

from bench.scenario import AppContext, Request, Scenario, Target, Workload, fetch

EMAIL = "bench-auth-me@example.org"
PASSWORD = "bench passphrase for auth-me"  # noqa: S105  (a throwaway account in a throwaway database)


def _create_user(ctx: AppContext) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    env |= {"WAYMARK_DATABASE_URL": ctx.database_url, "WAYMARK_VAR_DIR": str(ctx.workdir / "cli")}
    result = subprocess.run(
        [sys.executable, "-m", "waymark", "users", "create", EMAIL],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode not in (0, 2):  # 2: already there from an earlier scenario run
        raise RuntimeError(f"waymark users create failed: {result.stderr}")


def _login(ctx: AppContext, client: int) -> str:
    """A fresh access token (a new refresh family); each from its own client address, so
    the per-IP login throttle does not count them together."""
    login = fetch(
        ctx.port,
        Request(
            "/api/v1/auth/login",
            method="POST",
            headers={
                "content-type": "application/json",
                "x-forwarded-for": f"2001:db8:ffff::{client:x}",
            },
            body=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
        ),
    )
    if login.status != 200:
        raise RuntimeError(f"login answered {login.status}: {login.body[:300]!r}")
    return str(json.loads(login.body)["access_token"])


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _refused(ctx: AppContext) -> list[Request]:
    """Two valid tokens whose family the app must not accept: one logged out (revoked), one
    whose family names another user (what a forged `sid` would look like)."""
    revoked = _login(ctx, 2)
    logout = fetch(
        ctx.port,
        Request(
            "/api/v1/auth/logout", method="POST", headers={"authorization": f"Bearer {revoked}"}
        ),
    )
    if logout.status != 204:
        raise RuntimeError(f"logout answered {logout.status}: {logout.body[:300]!r}")
    foreign = _login(ctx, 3)
    family_id = _claims(foreign)["sid"].removeprefix("f:")
    with Redis.from_url(str(ctx.redis_url)) as client:
        key = f"{ctx.redis_prefix}rf:{family_id}"
        # 0 fields added: the hash and its user_id were there, as in the app's key layout.
        if client.hset(key, "user_id", str(uuid.uuid4())) != 0:
            raise RuntimeError(f"no refresh family at {key}: the key layout changed")
    return [
        Request("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        for token in (revoked, foreign)
    ]


def prepare(ctx: AppContext) -> Workload:
    if not ctx.redis_url:
        raise RuntimeError("auth-me needs the production profile's Redis (refresh families)")
    _create_user(ctx)
    token = _login(ctx, 1)
    headers = {"authorization": f"Bearer {token}"}
    sample = ctx.get("/api/v1/me", headers)
    if sample.status != 200:
        raise RuntimeError(f"GET /api/v1/me answered {sample.status}: {sample.body[:300]!r}")
    jwks = json.loads(ctx.get("/.well-known/jwks.json").body)
    claims = _claims(token)
    return Workload(
        requests=[Request("/api/v1/me", headers=headers)],
        expect_status=200,
        refused=_refused(ctx),
        limit_config={
            "database_url": ctx.database_url,
            "pool_size": ctx.server.pool_size,
            "jwks": jwks,
            # What the app checks the claims against: its issuer and audience, as in the
            # token it issued, and its clock leeway (AuthSettings.token_leeway).
            "issuer": claims["iss"],
            "audience": claims["aud"],
            "leeway": float(os.environ.get("WAYMARK_AUTH__TOKEN_LEEWAY", "60")),
            "redis_url": ctx.redis_url,
            "redis_prefix": ctx.redis_prefix,
            "headers": [list(h) for h in sample.headers],
        },
    )


SCENARIO = Scenario(
    name="auth-me",
    summary="GET /api/v1/me with a Bearer access token (PS256)",
    limit_app="bench.limits.raw_auth_me:app",
    limit_summary="raw ASGI doing the app's work: the same PS256 token verified (cryptography, "
    "once per token as the app), its refresh family checked live with one HMGET (raw RESP, "
    "hiredis), the same user row read (asyncpg, same pool size)",
    prepare=prepare,
    profiles=("production",),
    targets=(Target(min_ratio=0.5),),
)
