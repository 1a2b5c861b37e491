"""Prometheus metrics, owned by the app instance (no import-time global registry).

With several Granian workers, set `PROMETHEUS_MULTIPROC_DIR` (the `serve` command does) and
each scrape aggregates every worker's numbers.

Numbers that live outside the process (how many outbox messages wait) come from scrape
sources: computed when `/metrics` is scraped, by whichever process answers, so they are right
with any number of workers, and never summed across them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = structlog.get_logger(__name__)

ScrapeSource = Callable[[], Awaitable[Iterable[Metric]]]
"""Computes metric families at scrape time (one cheap query, say)."""

SCRAPE_SOURCE_TIMEOUT_SECONDS = 2.0

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def use_multiprocess_directory(directory: Path) -> None:
    """Have the metrics this process creates from now on, and those of the workers it forks,
    write to `directory`, which `/metrics` then aggregates.

    prometheus_client reads `PROMETHEUS_MULTIPROC_DIR` once, when first imported: the
    `waymark` command has imported it by the time it knows the worker count, and Granian
    forks the workers from it, so setting the variable alone left every worker counting in
    memory, unseen (a scrape showed no request metrics at all).
    """
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class HttpMetrics:
    def __init__(self, *, source_timeout: float = SCRAPE_SOURCE_TIMEOUT_SECONDS) -> None:
        self.source_timeout = source_timeout
        self._sources: dict[str, ScrapeSource] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "waymark_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "waymark_http_request_duration_seconds",
            "Time from the request's first byte to the end of the response, by route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def add_scrape_source(self, name: str, source: ScrapeSource) -> None:
        """Have every scrape include what `source` computes then (see the module's doc)."""
        if name in self._sources:
            raise ValueError(f"a scrape source {name!r} is already registered")
        self._sources[name] = source

    async def scrape(self) -> bytes:
        """The exposition text: this process's (or every worker's) request metrics, then what
        each scrape source computes now. A source that fails or takes longer than
        `source_timeout` leaves its families out and `waymark_scrape_source_up` at 0; the rest
        is served all the same."""
        families: list[Metric] = []
        up = GaugeMetricFamily(
            "waymark_scrape_source_up",
            "1 if the source's metrics in this scrape are fresh; 0 if it failed or timed out "
            "and they are missing.",
            labels=["source"],
        )
        for name, source in self._sources.items():
            try:
                async with asyncio.timeout(self.source_timeout):
                    found = list(await source())
            except Exception as exc:
                log.warning("metrics.scrape_source_failed", source=name, error=repr(exc))
                up.add_metric([name], 0)
            else:
                families.extend(found)
                up.add_metric([name], 1)
        if self._sources:
            families.append(up)
        return self.render() + render_families(families)

    def render(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def render_families(families: list[Metric]) -> bytes:
    """Metric families computed beforehand, as exposition text (`CONTENT_TYPE`)."""
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Families(families))
    return generate_latest(snapshot)


class _Families:
    """A collector of metric families computed beforehand (for one scrape)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
