"""The outbox's depth and age on `/metrics`: computed when scraped, in one process or many, and
a failing or slow database leaves the rest of the metrics standing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tests.integration.test_ops_api import _settings_for
from waymark.app import create_app
from waymark.infra.observability.metrics import HttpMetrics
from waymark.infra.outbox import DEAD, Outbox
from waymark.infra.outbox.tables import outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow

Client = AsyncTestClient[Litestar]
KIND = "test.metrics"  # no handler: the app's relay leaves these pending


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition text, parsed as Prometheus would (a malformed line
    raises), by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def outbox_gauges(text: str) -> tuple[float, float, float, float]:
    found = samples(text)
    return (
        found[("waymark_outbox_messages", (("state", "pending"),))],
        found[("waymark_outbox_messages", (("state", "dead"),))],
        found[("waymark_outbox_oldest_pending_age_seconds", ())],
        found[("waymark_scrape_source_up", (("source", "outbox"),))],
    )


async def enqueue(db: Database, *, age: timedelta, dead: bool = False) -> None:
    async with db.transaction() as conn:
        message_id = await Outbox().enqueue(conn, KIND, {"n": 1}, now=utcnow() - age)
        if dead:
            await conn.execute(update(outbox).where(outbox.c.id == message_id).values(state=DEAD))


async def test_metrics_show_pending_and_dead_messages_and_the_oldest_ones_age(
    client: Client, db: Database
) -> None:
    before = (await client.get("/metrics")).text
    assert outbox_gauges(before) == (0, 0, 0, 1)

    await enqueue(db, age=timedelta(minutes=2))
    await enqueue(db, age=timedelta(seconds=5))
    await enqueue(db, age=timedelta(days=3), dead=True)
    response = await client.get("/metrics")
    pending, dead, age, up = outbox_gauges(response.text)
    assert (pending, dead, up) == (2, 1, 1)
    assert 120 <= age < 150
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    # The request metrics are still there, in the same (valid) text.
    assert (
        "waymark_http_requests_total",
        (("method", "GET"), ("route", "/metrics"), ("status", "200")),
    ) in samples(response.text)


async def test_with_several_workers_every_scrape_computes_them_afresh(
    client: Client, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In multiprocess mode the request metrics come from the workers' files; the outbox's
    numbers must still be there, computed by whichever worker answers, not summed."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    await enqueue(db, age=timedelta(minutes=1))
    await enqueue(db, age=timedelta(minutes=1), dead=True)
    pending, dead, age, up = outbox_gauges((await client.get("/metrics")).text)
    assert (pending, dead, up) == (1, 1, 1)
    assert age >= 60


async def test_an_unreachable_database_leaves_the_rest_of_the_metrics(tmp_path: Path) -> None:
    settings = _settings_for("postgresql+asyncpg://nobody@127.0.0.1:1/none", tmp_path)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await client.get("/healthz")
        response = await client.get("/metrics")
    assert response.status_code == 200
    found = samples(response.text)
    assert found[("waymark_scrape_source_up", (("source", "outbox"),))] == 0
    assert not any(name.startswith("waymark_outbox") for name, _ in found)
    healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert found[("waymark_http_requests_total", healthz)] == 1


async def test_a_source_that_hangs_is_cut_off_at_its_timeout() -> None:
    never = asyncio.Event()

    async def hanging() -> list[Metric]:
        await never.wait()
        return []

    metrics = HttpMetrics(source_timeout=0.05)
    metrics.add_scrape_source("slow", hanging)
    with pytest.raises(ValueError, match="already registered"):
        metrics.add_scrape_source("slow", hanging)
    async with asyncio.timeout(5):
        text = (await metrics.scrape()).decode()
    assert samples(text)[("waymark_scrape_source_up", (("source", "slow"),))] == 0
