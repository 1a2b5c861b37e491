"""`roadmap-get`: the whole roadmap, from the app's in-memory cache of serialized bytes."""

from __future__ import annotations

from bench.scenario import AppContext, Request, Scenario, Target, Workload
from bench.scenarios._roadmap import ROADMAP_PATH, raw_bytes_config


def prepare(ctx: AppContext) -> Workload:
    return Workload(
        requests=[Request(ROADMAP_PATH)],
        expect_status=200,
        limit_config=raw_bytes_config(ctx),
        same_body=True,
    )


SCENARIO = Scenario(
    name="roadmap-get",
    summary=f"GET {ROADMAP_PATH}: the whole roadmap as JSON, bytes pre-serialized in memory",
    limit_app="bench.limits.raw_bytes:app",
    limit_summary="raw ASGI app sending the same bytes and headers from memory",
    prepare=prepare,
    targets=(Target(min_ratio=0.6, max_p99_ms=25, connections=64),),
)
