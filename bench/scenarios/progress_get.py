"""`progress-get`: a learner's progress on a roadmap, `GET /api/v1/me/progress/backend`.

Eight learners, each signed in with a Bearer token, each with a realistic mix set through the
app's own API beforehand (15 topics done, 5 learning, 2 skipped, at a different place in the
roadmap for each); wrk cycles over their eight tokens. They have seen the roadmap's current
version (their first change records it), so nothing is listed as changed since.

The app finds the caller (token, family in Redis, account), takes the roadmap from its
in-memory catalog and reads the learner's state in one statement; the limit does the same
work with the app's own two statements (`bench/limits/raw_progress_get.py`, the issue's
definition): the token and family as auth-me's limit, the account and the learner's state on
bare asyncpg, the view computed from the rows and the roadmap in memory. Both answer the
same bytes and the same ETag. `progress-get-one-trip` measures the same work against one
round trip.
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
    limit_summary="raw ASGI doing the app's work with the app's own SQL statements (compiled "
    "from its statement objects) on bare asyncpg: the caller as auth-me's limit (token once, "
    "family with one HMGET), the account, then the learner's state (progress row, version "
    "seen, statuses as one JSON object) on the same connection; the view computed from them "
    "and the roadmap in memory (as the app's catalog keeps it), encoded with msgspec",
    prepare=prepare,
    profiles=("production",),
    # Issue 11's target, against its definition of the limit (the same statements).
    targets=(Target(min_ratio=0.5, connections=64), Target(min_ratio=0.5, connections=512)),
)
