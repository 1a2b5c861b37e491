"""`progress-get`: a learner's progress on a roadmap, `GET /api/v1/me/progress/backend`.

Eight learners, each signed in with a Bearer token, each with a realistic mix set through the
app's own API beforehand (15 topics done, 5 learning, 2 skipped, at a different place in the
roadmap for each); wrk cycles over their eight tokens. They have seen the roadmap's current
version (their first change records it), so nothing is listed as changed since.

The app finds the caller (token, family in Redis, account), takes the roadmap from its
in-memory catalog and reads the learner's read models in four statements; the limit does the
same work the cheapest correct way (`bench/limits/raw_progress_get.py`): the token and family
as auth-me's limit, everything else in one round trip, the view computed from the rows and
the roadmap in memory. Both answer the same bytes and the same ETag.
"""

from __future__ import annotations

from bench.scenario import AppContext, Request, Scenario, Target, Workload
from bench.scenarios._accounts import refused, signed_in_config
from bench.scenarios._progress import (
    PASSWORD,
    PROGRESS_PATH,
    bearer,
    learners,
    mix,
    roadmap_json,
    set_statuses,
    topic_ids,
)

LEARNERS = 8


def _view(token: str) -> Request:
    return Request(PROGRESS_PATH, headers=bearer(token))


def prepare(ctx: AppContext) -> Workload:
    roadmap = roadmap_json(ctx)
    topics = topic_ids(roadmap)
    people = learners(ctx, "progress-get", LEARNERS, first_client=0x100)
    for number, (_email, token) in enumerate(people):
        set_statuses(ctx, token, mix(topics, number))
    first_email, first_token = people[0]
    sample = ctx.get(PROGRESS_PATH, bearer(first_token))
    if sample.status != 200:
        raise RuntimeError(f"GET {PROGRESS_PATH} answered {sample.status}: {sample.body[:300]!r}")
    return Workload(
        requests=[_view(token) for _email, token in people],
        expect_status=200,
        same_body=True,
        refused=refused(ctx, first_email, PASSWORD, (0x1F0, 0x1F1), _view),
        limit_config={"roadmap": roadmap, **signed_in_config(ctx, sample, first_token)},
    )


SCENARIO = Scenario(
    name="progress-get",
    summary=f"GET {PROGRESS_PATH} with a Bearer token, 8 learners with 22 topics started",
    limit_app="bench.limits.raw_progress_get:app",
    limit_summary="raw ASGI doing the app's work: the caller as auth-me's limit (token once, "
    "family with one HMGET), then account, progress row, statuses, section counts and the "
    "version seen in one asyncpg round trip; the view computed from them and the roadmap in "
    "memory (as the app's catalog keeps it), encoded with msgspec",
    prepare=prepare,
    profiles=("production",),
    # First run (2026-11-30, 64 connections): 0.09-0.11, the app at ~2 ms of CPU a view
    # against auth-me's ~0.4 ms for the same caller checks; its four SQLAlchemy statements
    # on a pooled connection are most of the difference (bench/README.md, "Top costs").
    # One hot read for the learner's rows would put it near auth-me's cost, about 0.25.
    targets=(Target(min_ratio=0.25, connections=64),),
)
