"""`waymark worker` and `waymark jobs dead` as an operator runs them, on the local RabbitMQ
(queues of the test's own, deleted after): a sign-up's mail, written by the app and
published by its relay, is sent by a worker process, which serves its metrics and stops
cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.auth_helpers import PASSWORD, wait_for_mail
from tests.config import app_settings
from tests.contract.broker_servers import amqp_url, unique_queue
from tests.servers import free_port
from tests.servers import in_process as waymark
from waymark.app import create_app
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.outbox import DONE
from waymark.infra.outbox.tables import outbox
from waymark.infra.sql.database import Database
from waymark.kernel.broker import Delivery, Job
from waymark.settings import BrokerSettings, Settings

__all__ = ["amqp_url"]

pytestmark = pytest.mark.slow
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
async def queue(amqp_url: str) -> AsyncIterator[str]:
    name = unique_queue()
    yield name
    cleaner = AmqpBroker(amqp_url, queue=name)
    await cleaner.teardown()
    await cleaner.aclose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, amqp_url: str, queue: str) -> Settings:
    return app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        broker_url=amqp_url,
        broker=BrokerSettings(queue=queue),
    )


def worker_env(settings: Settings) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    return environ | {
        "WAYMARK_ENVIRONMENT": "test",
        "WAYMARK_DATABASE_URL": settings.database_url or "",
        "WAYMARK_VAR_DIR": str(settings.var_dir),
        "WAYMARK_BROKER_URL": settings.broker_url or "",
        "WAYMARK_BROKER__QUEUE": settings.broker.queue,
        "WAYMARK_LOG__LEVEL": "info",
        "WAYMARK_AUTH__ARGON2_MEMORY_KIB": str(settings.auth.argon2_memory_kib),
        "WAYMARK_AUTH__ARGON2_TIME_COST": str(settings.auth.argon2_time_cost),
    }


def start_worker(env: dict[str, str], metrics_port: int, log: Path) -> subprocess.Popen[bytes]:
    """`waymark worker` in a process of its own, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "waymark", "worker", "--metrics-port", str(metrics_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def scrape(port: int, within: float = 15.0) -> str:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while True:
            try:
                return (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=2)).text
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the worker's metrics never answered"
                await asyncio.sleep(0.1)


@pytest.mark.backend("postgresql")
async def test_a_worker_process_sends_the_mail_of_a_sign_up_and_stops_on_sigterm(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(settings) | {"WAYMARK_LOG__LEVEL": "debug"}, port, log)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            response = await client.post(
                "/api/v1/auth/register",
                json={"email": "queued@example.org", "password": PASSWORD},
                headers={"traceparent": TRACE, "x-request-id": "req-queued"},
            )
            assert response.status_code == 202, response.text
            # The app has no handler running here: the mail is the worker's doing.
            await wait_for_mail(settings.var_dir / "mail", "queued@example.org", timeout=20)
        async with db.read() as conn:
            [row] = (await conn.execute(outbox.select().where(outbox.c.kind == "mail.send"))).all()
        assert (row.state, row.correlation_id, row.traceparent) == (DONE, "req-queued", TRACE)
        metrics = await scrape(port)
        assert 'waymark_jobs_total{kind="mail.send",outcome="acked"} 1.0' in metrics
        assert 'waymark_jobs_queued{queue="ready"} 0.0' in metrics
        assert 'waymark_job_age_at_start_seconds_count{kind="mail.send"} 1.0' in metrics
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
    output = log.read_text()
    assert code == 0, output
    assert "Waymark worker stopped" in output
    # The job's log lines carry the request's id and trace.
    [done] = [
        line
        for line in output.splitlines()
        if '"jobs.done"' in line and '"job_kind":"mail.send"' in line
    ]
    assert '"request_id":"req-queued"' in done
    assert '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"' in done


@pytest.mark.backend("sqlite")
async def test_dead_jobs_are_listed_shown_retried_and_purged(
    settings: Settings, amqp_url: str
) -> None:
    broker = AmqpBroker(amqp_url, queue=settings.broker.queue)
    jobs = [
        Job(id=f"dead-{n}", kind="test.kind", payload=f'{{"n":{n}}}', created_at=1.8e9 + n)
        for n in range(3)
    ]
    await broker.publish(jobs)
    received: list[Delivery] = []
    while len(received) < 3:
        received += await broker.receive(3, wait=2)
    for delivery in received:
        await broker.dead(delivery, error="ValueError: broken")
    env = worker_env(settings)
    try:
        listed = await waymark(env, "jobs", "dead", "list")
        assert listed.exit_code == 0, listed.output
        assert "dead-0" in listed.stdout
        assert "ValueError: broken" in listed.stdout
        assert "3 dead job(s) shown" in listed.stdout
        shown = await waymark(env, "jobs", "dead", "show", "dead-1")
        assert '"payload": "{\\"n\\":1}"' in shown.stdout
        missing = await waymark(env, "jobs", "dead", "show", "nope")
        assert missing.exit_code == 2
        assert "(not-found): no dead job nope" in missing.stderr
        retried = await waymark(env, "jobs", "dead", "retry", "dead-2")
        assert "1 dead job(s) back in line" in retried.stdout
        [back] = await broker.receive(1, wait=5)
        assert (back.job.id, back.job.attempt) == ("dead-2", 1)
        await broker.ack(back)
        purged = await waymark(env, "jobs", "dead", "purge", "--yes")
        assert "deleted 2 dead job(s)" in purged.stdout
        assert (await broker.depth()).dead == 0
    finally:
        await broker.aclose()


@pytest.mark.backend("sqlite")
async def test_without_a_broker_the_worker_refuses_to_start(settings: Settings) -> None:
    env = worker_env(settings) | {"WAYMARK_BROKER_URL": ""}
    result = await waymark(env, "worker")
    assert result.exit_code == 2
    assert "WAYMARK_BROKER_URL is not set" in result.stderr


@pytest.mark.backend("sqlite")
async def test_in_production_the_worker_refuses_a_default_broker_password(
    settings: Settings,
) -> None:
    env = {k: v for k, v in worker_env(settings).items() if not k.startswith("WAYMARK_AUTH__")} | {
        "WAYMARK_ENVIRONMENT": "production",
        "WAYMARK_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/",
    }
    result = await waymark(env, "worker")
    assert result.exit_code == 2
    assert "WAYMARK_BROKER_URL uses a well-known default password" in result.stderr
