"""`roadmap-get-304`: the roadmap revalidated with `If-None-Match`, answered 304."""

from __future__ import annotations

from bench.scenario import AppContext, Request, Scenario, Workload
from bench.scenarios._roadmap import ROADMAP_PATH, raw_bytes_config


def prepare(ctx: AppContext) -> Workload:
    config = raw_bytes_config(ctx)
    return Workload(
        requests=[Request(ROADMAP_PATH, headers={"If-None-Match": config["etag"]})],
        expect_status=304,
        limit_config=config,
    )


SCENARIO = Scenario(
    name="roadmap-get-304",
    summary=f"GET {ROADMAP_PATH} with If-None-Match: <current ETag> (304, no body)",
    limit_app="bench.limits.raw_bytes:app",
    limit_summary="raw ASGI app comparing the ETag and answering 304 with the app's headers",
    prepare=prepare,
)
