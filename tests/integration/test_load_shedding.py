"""Past `max_in_flight` requests a worker answers 503 at once, and keeps serving the ones it
admitted; health, readiness and metrics are never refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgspec
from litestar.testing import AsyncTestClient

from waymark.app import create_app
from waymark.settings import Settings
from waymark.transport.http.shedding import LoadShedder


async def test_requests_past_the_cap_are_refused_at_once() -> None:
    """A real ASGI app whose requests wait until released: with a cap of 2, of 5 requests
    sent together 2 are worked on and 3 are refused before the 2 finish."""
    release, third_in = asyncio.Event(), asyncio.Event()
    started: list[str] = []

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        started.append(scope["path"])
        if len(started) == 3:
            third_in.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    shedder = LoadShedder(slow, max_in_flight=2, exempt=["/healthz"])
    transport = httpx.ASGITransport(app=shedder)
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
        calls = [asyncio.create_task(client.get(f"/work/{n}")) for n in range(5)]
        refused, _ = await asyncio.wait(calls, timeout=0.5)  # the two admitted still wait
        assert len(refused) == 3
        for call in refused:
            response = call.result()
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"] == "application/problem+json"
            assert msgspec.json.decode(response.content)["code"] == "service-unavailable"
        assert len(started) == 2
        health = asyncio.create_task(client.get("/healthz"))  # exempt: admitted past the cap
        await asyncio.wait_for(third_in.wait(), 5)
        release.set()
        answers = [await call for call in calls] + [await health]
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 503, 503, 503]
    assert shedder.in_flight == 0


async def test_the_app_sheds_past_its_setting_and_counts_it(settings: Settings) -> None:
    settings.http.max_in_flight = 1
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        # LiveSocketRoute(RequestContextMiddleware(CrossOriginAccess(LoadShedder(...))))
        shedder = app.asgi_handler.app.app.app
        assert isinstance(shedder, LoadShedder)
        shedder.in_flight = 1  # as if one request were being worked on
        refused = await client.get("/api/v1/roadmaps")
        health = await client.get("/healthz")
        shedder.in_flight = 0
        served = await client.get("/api/v1/roadmaps")
        metrics = (await client.get("/metrics")).text
    assert refused.status_code == 503
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert health.status_code == 200
    assert served.status_code == 200
    assert 'route="<shed>",status="503"' in metrics
