"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from litestar import Request, Response, Router, get

from waymark.features.ops.service import NotReady
from waymark.infra.observability.metrics import CONTENT_TYPE, HttpMetrics
from waymark.kernel.errors import ServiceUnavailable
from waymark.transport.http.problems import documented_problems


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    checks: dict[str, str] = {}


Probe = Callable[[], Awaitable[None]]
"""Raises when its dependency does not answer, `NotReady` when it answers but cannot serve."""

PROBE_TIMEOUT_SECONDS = 2.0
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
        results = await asyncio.gather(*(_probe(probe) for probe in probes.values()))
        checks = dict(zip(probes, results, strict=True))
        if any(result != "ok" for result in results):
            error = ServiceUnavailable("a dependency is not ready", retry_after=5)
            error.extra = {"checks": checks}
            raise error
        return Health(status="ok", checks=checks)

    @get("/metrics", summary="Prometheus metrics", operation_id="metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
        # As a header: Litestar appends its own charset to a text/* media_type.
        return Response(content=await metrics.scrape(), headers={"content-type": CONTENT_TYPE})

    return Router(path="/", route_handlers=[healthz, readyz, metrics_endpoint], tags=["ops"])


async def _probe(probe: Probe) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await probe()
    except NotReady as exc:
        return str(exc)
    except Exception as exc:  # any failure means not ready; say which dependency
        return f"unreachable: {type(exc).__name__}"
    return "ok"
