"""`topic-get`: one topic by its stable id, cycling over every topic of the roadmap."""

from __future__ import annotations

from bench.scenario import AppContext, Request, Scenario, Target, Workload
from bench.scenarios._roadmap import ROADMAP_PATH, ROADMAP_SLUG, fetch_roadmap


def prepare(ctx: AppContext) -> Workload:
    roadmap, _etag = fetch_roadmap(ctx)
    topic_ids = [t["id"] for s in roadmap.json()["sections"] for t in s["topics"]]
    if not topic_ids:
        raise RuntimeError(f"{ROADMAP_PATH} lists no topics")
    sample = ctx.get(f"{ROADMAP_PATH}/topics/{topic_ids[0]}")
    if sample.status != 200:
        raise RuntimeError(f"GET topic {topic_ids[0]} answered {sample.status}")
    return Workload(
        requests=[Request(f"{ROADMAP_PATH}/topics/{topic_id}") for topic_id in topic_ids],
        expect_status=200,
        limit_config={
            "database_url": ctx.database_url,
            "pool_size": ctx.server.pool_size,
            "prefix": "/api/v1/roadmaps/",
            "headers": [list(h) for h in sample.headers],
        },
    )


SCENARIO = Scenario(
    name="topic-get",
    summary=f"GET {ROADMAP_PATH}/topics/{{id}} cycling over all topics of `{ROADMAP_SLUG}`",
    limit_app="bench.limits.raw_topic:app",
    limit_summary="raw ASGI + asyncpg (sqlite3 in threads on SQLite), the same SQL, pool size",
    prepare=prepare,
    profiles=("production", "embedded"),
    targets=(Target(min_ratio=0.5),),
)
