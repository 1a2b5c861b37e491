"""Jobs on a broker as Prometheus metrics.

- `BrokerBacklog`, a scrape source (for the app's `/metrics` and the worker's): the queues'
  depth, `waymark_jobs_queued{queue="ready"|"delayed"|"dead"}`, asked of the broker at
  scrape time.
- `JobMetrics`, a worker's own: jobs settled by kind and outcome, how long each ran, and
  their age when they started (from the commit that wrote them to the worker picking them
  up: the time they waited in the outbox and the queue), with the last one's as a gauge.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from waymark.infra.observability.metrics import HttpMetrics
from waymark.kernel.broker import Broker, Job

_AGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)


class BrokerBacklog:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def __call__(self) -> list[Metric]:
        depth = await self.broker.depth()
        queued = GaugeMetricFamily(
            "waymark_jobs_queued",
            "Jobs in the broker: ready for a worker, waiting out a retry's backoff (delayed), "
            "or in the dead-letter queue.",
            labels=["queue"],
        )
        queued.add_metric(["ready"], depth.ready)
        queued.add_metric(["delayed"], depth.delayed)
        queued.add_metric(["dead"], depth.dead)
        return [queued]


class JobMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.jobs = Counter(
            "waymark_jobs",
            "Jobs settled by this worker, by kind and outcome (acked, retried, dead, "
            "duplicate: skipped as already processed, released: returned at shutdown, unsettled: "
            "the broker could not be told, so it delivers the job again).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "waymark_job_duration_seconds",
            "How long a job ran, by kind.",
            ["kind"],
            buckets=_AGE_BUCKETS,
            registry=self.registry,
        )
        self.age = Histogram(
            "waymark_job_age_at_start_seconds",
            "From the commit that wrote a job to a worker starting it (retries included).",
            ["kind"],
            buckets=_AGE_BUCKETS,
            registry=self.registry,
        )
        self.last_age = Gauge(
            "waymark_job_last_age_at_start_seconds",
            "The age of the job this worker started last, when it started.",
            registry=self.registry,
        )
        self.running = Gauge(
            "waymark_jobs_running", "Jobs this worker is running now.", registry=self.registry
        )

    def started(self, job: Job, *, now: float) -> None:
        age = max(0.0, now - job.created_at)
        self.age.labels(job.kind).observe(age)
        self.last_age.set(age)
        self.running.inc()

    def returned(self, job: Job) -> None:
        """A job given back to the broker by a stopping worker before it started."""
        self.jobs.labels(job.kind, "released").inc()

    def settled(self, job: Job, outcome: str, seconds: float) -> None:
        self.running.dec()
        self.jobs.labels(job.kind, outcome).inc()
        self.duration.labels(job.kind).observe(seconds)


async def serve_metrics(metrics: HttpMetrics, host: str, port: int) -> asyncio.Server:
    """A minimal HTTP endpoint on `host:port` answering every request with `metrics`'
    exposition (the worker has no web server of its own)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = await metrics.scrape()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, host, port)
