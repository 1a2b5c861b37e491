"""`login`: `POST /api/v1/auth/login` with the right password, tokens out.

Login is bound by argon2 (~20-50 ms of CPU by design), so its limit is argon2 itself: a raw
ASGI app verifying the same password against the same hash with the same parameters and the
same number of hashes at once. Every request wrk sends carries its own client IP
(X-Forwarded-For from a trusted loopback proxy, see config.py and `client_ip_per_request`), as
a crowd of users logging in would, so the throttle per account and IP (5 in 5 minutes) stays
out of the way however long the run.
"""

from __future__ import annotations

import json

from bench.scenario import AppContext, Request, Scenario, Target, Workload, fetch
from bench.scenarios._accounts import create_accounts
from bench.scenarios.auth_me import EMAIL, PASSWORD


def _login(ip: str) -> Request:
    return Request(
        "/api/v1/auth/login",
        method="POST",
        headers={"content-type": "application/json", "x-forwarded-for": ip},
        body=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
    )


def prepare(ctx: AppContext) -> Workload:
    create_accounts(ctx, [EMAIL], PASSWORD)
    sample = fetch(ctx.port, _login("198.18.255.254"))
    if sample.status != 200:
        raise RuntimeError(f"login answered {sample.status}: {sample.body[:300]!r}")
    return Workload(
        # 198.18.0.0/15: the benchmarking range (RFC 2544). This address only serves the
        # check before measuring; wrk replaces it with one of its own per request.
        requests=[_login("198.18.0.1")],
        expect_status=200,
        client_ip_per_request=True,
        limit_config={"email": EMAIL, "password": PASSWORD, "concurrency": 2},
    )


SCENARIO = Scenario(
    name="login",
    summary="POST /api/v1/auth/login (argon2id verify, tokens issued), one client IP per request",
    limit_app="bench.limits.raw_login:app",
    limit_summary="raw ASGI running one argon2id verification per request with the app's "
    "parameters, 2 at once in threads (the app's cap)",
    prepare=prepare,
    profiles=("production",),
    # ~30 logins/s on 2 cores: 512 clients would queue ~17 s each, past wrk's timeout, on
    # both sides (a run measured 0 req/s for app and limit alike). 16 and 64 clients queue
    # 0.5 s and 2 s.
    connections=(16, 64),
    targets=(Target(min_ratio=0.5),),
)
