"""`auth-me`: an authenticated read, `GET /api/v1/me` with a Bearer access token.

The app verifies the PS256 token, checks the refresh family is live, and reads the user row.
The limit verifies the same token with the same public key and reads the same row: what an
authenticated request cannot avoid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def prepare(ctx: AppContext) -> Workload:
    _create_user(ctx)
    login = fetch(
        ctx.port,
        Request(
            "/api/v1/auth/login",
            method="POST",
            headers={"content-type": "application/json"},
            body=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
        ),
    )
    if login.status != 200:
        raise RuntimeError(f"login answered {login.status}: {login.body[:300]!r}")
    token = json.loads(login.body)["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    sample = ctx.get("/api/v1/me", headers)
    if sample.status != 200:
        raise RuntimeError(f"GET /api/v1/me answered {sample.status}: {sample.body[:300]!r}")
    jwks = json.loads(ctx.get("/.well-known/jwks.json").body)
    return Workload(
        requests=[Request("/api/v1/me", headers=headers)],
        expect_status=200,
        limit_config={
            "database_url": ctx.database_url,
            "pool_size": ctx.server.pool_size,
            "jwks": jwks,
            "headers": [list(h) for h in sample.headers],
        },
    )


SCENARIO = Scenario(
    name="auth-me",
    summary="GET /api/v1/me with a Bearer access token (PS256)",
    limit_app="bench.limits.raw_auth_me:app",
    limit_summary="raw ASGI verifying the same PS256 token (cryptography) and reading the same "
    "user row (asyncpg), same pool size",
    prepare=prepare,
    profiles=("production",),
    targets=(Target(min_ratio=0.5),),
)
