"""`auth-me`: an authenticated read, `GET /api/v1/me` with a Bearer access token.

The app verifies the PS256 token, checks in Redis that its refresh family is live, and reads
the user row. The limit does the same three things the cheapest correct way (see
`bench/limits/raw_auth_me.py`): what an authenticated request cannot avoid.
"""

from __future__ import annotations

from bench.scenario import AppContext, Request, Scenario, Target, Workload
from bench.scenarios._accounts import create_accounts, login, refused, signed_in_config

EMAIL = "bench-auth-me@example.org"
PASSWORD = "bench passphrase for auth-me"  # noqa: S105  (a throwaway account in a throwaway database)


def _me(token: str) -> Request:
    return Request("/api/v1/me", headers={"authorization": f"Bearer {token}"})


def prepare(ctx: AppContext) -> Workload:
    create_accounts(ctx, [EMAIL], PASSWORD)
    token = login(ctx, EMAIL, PASSWORD, 1)
    sample = ctx.get("/api/v1/me", _me(token).headers)
    if sample.status != 200:
        raise RuntimeError(f"GET /api/v1/me answered {sample.status}: {sample.body[:300]!r}")
    return Workload(
        requests=[_me(token)],
        expect_status=200,
        same_body=True,
        refused=refused(ctx, EMAIL, PASSWORD, (2, 3), _me),
        limit_config=signed_in_config(ctx, sample, token),
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
