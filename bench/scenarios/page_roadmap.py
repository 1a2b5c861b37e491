"""`page-roadmap`: the signed-in backend roadmap page, `GET /roadmaps/backend` with the
browser session cookie (issue 12, "Speed").

Eight learners, each with the statuses of `progress-get` (15 done, 5 learning, 2 skipped, at
a place of their own), a note on three topics and a resource on two, all set through the
app's own API; each then signs in as a browser does (`mode: session`: the session cookie),
and wrk cycles over their eight cookies. Every page is personalised: the diagram and outline
in the learner's statuses, their counts and next up, their notes and resources, the session's
CSRF token in every form.

The app finds the visitor (the session in Redis, the account), reads the learner's progress
and notes and draws the page; the limit (`bench/limits/raw_roadmap_page.py`) does the same
session check and the same SQL, then writes the app's bytes for that learner, captured here.
Both answer the same bytes, checked before measuring.
"""

from __future__ import annotations

import json

from bench.scenario import AppContext, Request, Scenario, Target, Workload, fetch
from bench.scenarios._pages import PAGE_PATH, SESSION_COOKIE, browser_login, page
from bench.scenarios._progress import (
    PASSWORD,
    bearer,
    learners,
    mix,
    roadmap_json,
    set_statuses,
    topic_ids,
)
from bench.scenarios._roadmap import ROADMAP_SLUG

LEARNERS = 8
NOTE = "Read **twice**; see [the guide](https://example.org/guide) and `EXPLAIN` output."


def _write(ctx: AppContext, token: str, method: str, path: str, body: object) -> None:
    resp = fetch(
        ctx.port,
        Request(
            path,
            method=method,
            headers=bearer(token, **{"content-type": "application/json"}),
            body=json.dumps(body).encode(),
        ),
    )
    if resp.status not in (200, 201):
        raise RuntimeError(f"{method} {path} answered {resp.status}: {resp.body[:300]!r}")


def notes_and_resources(ctx: AppContext, token: str, topics: list[str], learner: int) -> None:
    """A note on three topics and a resource on two, from a place of the learner's own."""
    for i in range(3):
        topic = topics[(7 * learner + 3 * i) % len(topics)]
        note = {"markdown": f"{NOTE} ({i})"}
        _write(ctx, token, "PUT", f"/api/v1/me/notes/{ROADMAP_SLUG}/{topic}", note)
    for i in range(2):
        topic = topics[(7 * learner + 5 * i + 1) % len(topics)]
        resource = {"title": f"Guide {i}", "url": f"https://example.org/{i}", "kind": "article"}
        _write(ctx, token, "POST", f"/api/v1/me/resources/{ROADMAP_SLUG}/{topic}", resource)


def prepare(ctx: AppContext) -> Workload:
    if not ctx.redis_url:
        raise RuntimeError("page-roadmap measures the production profile (sessions in Redis)")
    topics = topic_ids(roadmap_json(ctx))
    people = learners(ctx, "page-roadmap", LEARNERS, first_client=0x300)
    cookies = []
    pages = {}
    sample = None
    for number, (email, token) in enumerate(people):
        set_statuses(ctx, token, mix(topics, number))
        notes_and_resources(ctx, token, topics, number)
        session = browser_login(ctx, email, PASSWORD, 0x380 + number)
        sample = page(ctx, f"{SESSION_COOKIE}={session}")
        cookies.append(f"{SESSION_COOKIE}={session}")
        pages[session] = str(ctx.write_file(f"page-{number}.html", sample.body))
    assert sample is not None
    return Workload(
        requests=[Request(PAGE_PATH, headers={"cookie": cookie}) for cookie in cookies],
        expect_status=200,
        same_body=True,
        limit_config={
            "database_url": ctx.database_url,
            "pool_size": ctx.server.pool_size,
            "headers": [list(h) for h in sample.headers],
            "redis_url": ctx.redis_url,
            "redis_prefix": ctx.redis_prefix,
            "roadmap_slug": ROADMAP_SLUG,
            "pages": pages,
        },
    )


SCENARIO = Scenario(
    name="page-roadmap",
    summary=f"GET {PAGE_PATH} signed in (session cookie), 8 learners with statuses, notes "
    "and resources",
    limit_app="bench.limits.raw_roadmap_page:app",
    limit_summary="raw ASGI doing the page's session check (one HMGET in Redis) and the app's "
    "four statements (account, learner state, notes, resources) on one asyncpg connection, "
    "then writing the app's page for that learner",
    prepare=prepare,
    profiles=("production",),
    targets=(Target(min_ratio=0.4, max_p99_ms=50, connections=64),),
)
