"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, get

from waymark.infra.observability.metrics import CONTENT_TYPE, HttpMetrics
from waymark.infra.sql.database import Database
from waymark.kernel.errors import ServiceUnavailable


class Health(msgspec.Struct, omit_defaults=True):
    status: str
    checks: dict[str, str] = {}


def ops_routes(db: Database, metrics: HttpMetrics) -> Router:
    @get("/healthz", summary="Liveness: the process answers", operation_id="healthz")
    async def healthz() -> Health:
        return Health(status="ok")

    @get(
        "/readyz",
        summary="Readiness: every dependency answers",
        operation_id="readyz",
        description="503 `service-unavailable` with `extra.checks` naming what failed.",
    )
    async def readyz() -> Health:
        try:
            await db.ping()
        except Exception as exc:  # any failure means not ready; say which dependency
            error = ServiceUnavailable("a dependency is not reachable")
            error.extra = {"checks": {"database": f"unreachable: {type(exc).__name__}"}}
            error.headers = {"retry-after": "5"}
            raise error from None
        return Health(status="ok", checks={"database": "ok"})

    @get("/metrics", summary="Prometheus metrics", operation_id="metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
        return Response(content=metrics.render(), media_type=CONTENT_TYPE)

    return Router(path="/", route_handlers=[healthz, readyz, metrics_endpoint], tags=["ops"])
