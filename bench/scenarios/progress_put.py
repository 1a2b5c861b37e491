"""`progress-put`: a learner changes one topic's status, `PUT
/api/v1/me/progress/backend/topics/{id}` with `{"status": ...}`.

Every request is a real change, the app's whole write path (an event appended, the read
models updated, in one transaction), never the no-op of a status the topic already has:

- 64 learners, each signed in with a Bearer token, each with a lane of its own
  (`Workload.lanes`): three passes over the topics in roadmap order, each moving every topic
  one status on round learning, done and skipped (`_progress.change_cycle`), from statuses
  set beforehand through the app's batch route. A lane carries on where the last run
  stopped, whichever server that run was against, so each request finds its topic at
  another status, even if the request before it for that topic was lost as a run ended.
  Every answer must say `"changed":true` (`Workload.expect_in_body`): a no-op counts as an
  error.
- Why 64: wrk's two threads take 32 lanes each, one request of each in turn, so at 64
  connections about one request per learner is in flight, as when a person clicks through
  their topics (two of their requests can still meet: the app then retries the loser, see
  below). At 512 connections about eight requests per learner are in flight, but only 15
  reach PostgreSQL at once (the pool, on both sides), so races stay rare: measured, 0.6 %
  of the app's changes and 4-6 % of the limit's were retried (0 and 1 % at 64).
- At every step about a third of a learner's topics are learning, a third done and a third
  skipped: the counts mix all three and no learner ever completes the roadmap.

Concurrent writers of one learner's log meet on the event number: both sides insert
`last + 1` and retry the loser from the start after the same random, growing wait
(`ProgressService.set_statuses`, `bench/limits/raw_progress_put.py`).

The limit runs the app's own statements (the issue's definition); `progress-put-one-trip`
measures the same workload against one round trip per change, how far a change could go.

Before measuring, a 65th learner runs one whole cycle (135 changes) against the app, then
the same against the limit, from the same statuses: both answer the same bytes at each step.
"""

from __future__ import annotations

import asyncio
import json

from bench.scenario import AppContext, Request, Scenario, Target, Workload, fetch
from bench.scenarios._accounts import refused, signed_in_config
from bench.scenarios._progress import (
    PASSWORD,
    PROGRESS_PATH,
    bearer,
    change_cycle,
    learners,
    roadmap_json,
    set_statuses,
    starting_statuses,
    topic_ids,
)

LEARNERS = 64
CHANGED = b'"changed":true'


def _change(token: str, topic: str, status: str) -> Request:
    return Request(
        f"{PROGRESS_PATH}/topics/{topic}",
        method="PUT",
        headers=bearer(token, **{"content-type": "application/json"}),
        body=json.dumps({"status": status}).encode(),
    )


def _lane(token: str, topics: list[str]) -> list[Request]:
    return [_change(token, topic, status) for topic, status in change_cycle(topics)]


async def _outbox_kinds(database_url: str) -> dict[str, list[str]]:
    """The outbox kinds the app wrote for progress events, by event (one per subscriber)."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT kind FROM outbox WHERE kind LIKE 'progress.%' ORDER BY kind"
        )
    finally:
        await conn.close()
    kinds: dict[str, list[str]] = {}
    for row in rows:
        kinds.setdefault(row["kind"].split(">", 1)[0], []).append(row["kind"])
    return kinds


def prepare(ctx: AppContext) -> Workload:
    roadmap = roadmap_json(ctx)
    topics = topic_ids(roadmap)
    people = learners(ctx, "progress-put", LEARNERS + 2, first_client=0x200)
    (_, check), (probe_email, probe) = people[LEARNERS:]
    for _email, token in people[: LEARNERS + 1]:
        set_statuses(ctx, token, starting_statuses(topics))
    # The probe finishes the roadmap, so that the app writes whatever its subscribers get
    # of both progress events (the limit then writes the same), then changes one topic.
    set_statuses(ctx, probe, dict.fromkeys(topics, "done"))
    sample = fetch(ctx.port, _change(probe, topics[0], "learning"))
    if sample.status != 200 or CHANGED not in sample.body:
        raise RuntimeError(f"PUT {topics[0]} answered {sample.status}: {sample.body[:300]!r}")
    return Workload(
        requests=_lane(check, topics),
        lanes=[_lane(token, topics) for _email, token in people[:LEARNERS]],
        expect_status=200,
        expect_in_body=CHANGED,
        same_body=True,
        refused=refused(
            ctx, probe_email, PASSWORD, (0x2F0, 0x2F1), lambda t: _change(t, topics[1], "skipped")
        ),
        limit_config={
            "roadmap": roadmap,
            "outbox_kinds": asyncio.run(_outbox_kinds(ctx.database_url)),
            **signed_in_config(ctx, sample, check),
        },
    )


SCENARIO = Scenario(
    name="progress-put",
    summary=f"PUT {PROGRESS_PATH}/topics/{{id}}, every request a real change, 64 learners",
    prepare=prepare,
    profiles=("production",),
    limit_app="bench.limits.raw_progress_put:app",
    limit_summary="raw ASGI doing the app's work with the app's own SQL statements (compiled "
    "from its statement objects) on bare asyncpg: the caller as auth-me's limit, the account, "
    "then in one transaction the learner's state, the event, the topic's status, the "
    "roadmap's and the section's counts (the day and the version seen when due), retried "
    "like the app when another change took the number",
    # The target, against its definition of the limit (the same statements). Against
    # a single round trip (progress-put-one-trip) the app was at 0.20 (bench/README.md).
    targets=(Target(min_ratio=0.4, connections=64), Target(min_ratio=0.4, connections=512)),
)
