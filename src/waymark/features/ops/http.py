"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get

from waymark.features.ops.service import Probe, readiness
from waymark.infra.observability.metrics import CONTENT_TYPE, HttpMetrics
from waymark.kernel.errors import ServiceUnavailable
from waymark.transport.http.problems import documented_problems
from waymark.transport.http.router import Router


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    checks: dict[str, str] = {}


OPS_PATHS = ("/healthz", "/readyz", "/metrics")
"""What load shedding never refuses: an overloaded server must still be seen as one."""


def ops_routes(metrics: HttpMetrics, probes: Mapping[str, Probe]) -> Router:
    """`probes`: what readiness checks, by name (`database`, and `redis` in production)."""

    @get("/healthz", summary="Liveness: the process answers", operation_id="healthz")
    async def healthz() -> Health:
        return Health(status="ok")

    @get(
        "/readyz",
        summary="Readiness: every dependency answers",
        operation_id="readyz",
        responses=documented_problems(ServiceUnavailable),
        description=(
            "503 `service-unavailable` with `extra.checks` naming what failed: a dependency "
            "that does not answer, or a database schema behind the migrations."
        ),
    )
    async def readyz() -> Health:
        checks = await readiness(probes)
        if any(result != "ok" for result in checks.values()):
            error = ServiceUnavailable("a dependency is not ready", retry_after=5)
            error.extra = {"checks": checks}
            raise error
        return Health(status="ok", checks=checks)

    @get("/metrics", summary="Prometheus metrics", operation_id="metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
        # As a header: Litestar appends its own charset to a text/* media_type.
        return Response(content=await metrics.scrape(), headers={"content-type": CONTENT_TYPE})

    return Router(path="/", route_handlers=[healthz, readyz, metrics_endpoint], tags=["ops"])
