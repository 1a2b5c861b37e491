"""What a scenario declares, and how the harness finds the scenarios.

A scenario is one module in `bench/scenarios/` that defines `SCENARIO = Scenario(...)`:
its name, the limit app it is measured against, which profiles it runs on, the targets from
its issue, and a `prepare` function. `prepare` runs once the app is up: it seeds or reads what
it needs through `AppContext` and returns a `Workload`, the requests wrk cycles over plus the
configuration handed to the limit app.
"""

from __future__ import annotations

import http.client
import importlib
import json
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.config import HOST, Profile, ServerSettings


@dataclass(frozen=True)
class Request:
    """One HTTP request of a workload."""

    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(port: int, request: Request, timeout: float = 10.0) -> Response:
    """Send one request to 127.0.0.1:`port` and read the whole answer."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(request.method, request.path, body=request.body, headers=dict(request.headers))
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


@dataclass(frozen=True)
class AppContext:
    """What `prepare` can use: the running app, its database and a scratch directory."""

    profile: Profile
    port: int
    database_url: str
    """The app's SQLAlchemy URL (`postgresql+asyncpg://…` or `sqlite+aiosqlite:///…`)."""
    server: ServerSettings
    workdir: Path
    redis_url: str | None = None
    """Production: the Redis the app keeps sessions, refresh families and rate limits in."""
    redis_prefix: str = ""
    """The run's `WAYMARK_REDIS__KEY_PREFIX`: every key the app writes starts with it."""

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Response:
        return fetch(self.port, Request(path, headers=headers or {}))

    def write_file(self, name: str, data: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(data)
        return path


@dataclass(frozen=True)
class Workload:
    """The requests to cycle over, and what the limit app must know to serve the same."""

    requests: Sequence[Request]
    """What wrk cycles over, and what the check before measuring sends to both servers; with
    `lanes`, only what the check sends (see there)."""
    expect_status: int
    limit_config: Mapping[str, Any]
    """JSON-serializable; the limit app reads it from the file named by BENCH_LIMIT_CONFIG."""
    same_body: bool = False
    """Whether the limit must answer byte-for-byte the same body (checked before measuring)."""
    lanes: Sequence[Sequence[Request]] = ()
    """For workloads whose requests change what the servers answer next (writes to the
    database they share): the load, in place of `requests`. Each lane is sent in its order
    and carries on, run after run, the app's and the limit's alike, where the previous run
    stopped (`LaneCursors`); each wrk thread (loadgen process) takes every n-th lane and
    sends one request of each in turn. A lane's requests thus reach the server in order, about
    connections ÷ lanes of them in flight at once, and a scenario can order each lane so that
    every request is a real change (`progress-put`). A request that never takes effect (an
    error, a connection cut as a run ends) upsets only the one later request of its lane that
    depended on it (`expect_in_body` counts it).

    The check before measuring then sends `requests` to the app, all in order, then the same
    to the limit, and compares the answers pairwise: they must leave the state as they found
    it (a whole cycle of a lane of their own)."""
    expect_in_body: bytes | None = None
    """Bytes every answer with `expect_status` must contain (`progress-put`: `"changed":true`,
    the proof that the request changed something); wrk and loadgen count those without as
    errors (`body`), so a run that measured no-ops says so."""
    refused: Sequence[Request] = ()
    """Requests outside the load that both servers must answer with `refused_status` before
    anything is measured: the limit refuses what the app refuses (`auth-me`: a token whose
    refresh family was revoked, or names another user)."""
    refused_status: int = 401
    client_ip_per_request: bool = False
    """Give every request wrk sends its own `X-Forwarded-For` (see `bench/wrk.py`), for
    scenarios behind a throttle keyed by client IP; the app trusts loopback as its proxy."""


@dataclass(frozen=True)
class LoadResult:
    """What a load driver measured in one run against one server."""

    requests: int
    duration_s: float
    bytes: int
    errors: dict[str, int]
    latency_ms: dict[str, float]
    """min, max, mean, stdev and percentiles p50, p75, p90, p99, p99.9."""
    client_cpu_s: float
    unaccepted: int | None = None
    """Connections still waiting to be accepted by the server half-way through the run."""
    statuses: dict[str, int] = field(default_factory=dict)
    """Responses by HTTP status, when the driver counts them (wrk does for multi-request
    workloads); empty when it does not."""
    latency_by_status: dict[str, dict[str, float]] = field(default_factory=dict)
    """`latency_ms` of each status's answers alone, when the driver times them apart
    (`bench/loadgen.py`); empty with wrk."""
    retry_after: dict[str, int] = field(default_factory=dict)
    """Answers that carried a Retry-After header, by status (loadgen only)."""
    unfinished: int | None = None
    """Requests still unanswered when the run ended (loadgen only; wrk does not say)."""
    lanes_sent: dict[int, int] = field(default_factory=dict)
    """Requests sent of each lane (by index), for workloads with lanes."""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


class LaneCursors:
    """Where each lane of a workload carries on, shared by every run against either server.

    Lane `i` is sent from position `positions[i]` (wrapping around); after a run, `advance`
    moves each lane on by the requests the run sent of it, so the next run starts with the
    request that follows the last one sent. Thread (or process) `t` of `n` takes lanes
    t, t + n, t + 2n, ... (`share`), as the wrk script does.
    """

    def __init__(self, lanes: Sequence[Sequence[Request]]) -> None:
        self.lengths = [len(lane) for lane in lanes]
        if not all(self.lengths):
            raise ValueError("every lane needs at least one request")
        self.positions = [0] * len(self.lengths)

    def advance(self, sent: Mapping[int, int]) -> None:
        for lane, count in sent.items():
            self.positions[lane] = (self.positions[lane] + count) % self.lengths[lane]

    @staticmethod
    def share(lanes: int, worker: int, workers: int) -> list[int]:
        """The lanes worker `worker` (0-based) of `workers` sends."""
        return list(range(worker, lanes, workers))


class Driver(Protocol):
    """Drives `workload` at 127.0.0.1:`port` for `duration` seconds (wrk unless a scenario
    brings its own, e.g. a WebSocket fan-out or a job-throughput scenario)."""

    def __call__(
        self,
        port: int,
        workload: Workload,
        *,
        connections: int,
        duration: float,
        threads: int,
        timeout: float,
    ) -> LoadResult: ...


@dataclass(frozen=True)
class Target:
    """A target ratio (bench/README.md), checked on the medians of one case."""

    min_ratio: float | None = None
    max_p99_ms: float | None = None
    connections: int | None = None
    """Only at this number of connections; None: at every one."""
    profile: Profile | None = "production"

    def describe(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f"≥ {self.min_ratio:g}x limit")
        if self.max_p99_ms is not None:
            parts.append(f"p99 < {self.max_p99_ms:g} ms")
        where = f" at {self.connections} conns" if self.connections else ""
        return " and ".join(parts) + where


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    limit_app: str
    """`module:attribute` of the ASGI callable served by Granian as this scenario's limit."""
    limit_summary: str
    prepare: Callable[[AppContext], Workload]
    profiles: tuple[Profile, ...] = ("production",)
    targets: tuple[Target, ...] = ()
    driver: Driver | None = None
    """None: wrk cycling over `Workload.requests`."""
    connections: tuple[int, ...] | None = None
    """The connection counts to measure at in place of the run's (`-c`), for a scenario
    whose throughput is so low by design that the run's counts would only measure timeouts."""

    def connection_counts(self, run: tuple[int, ...], *, forced: bool = False) -> tuple[int, ...]:
        """The counts to measure at: the scenario's own, else the run's; `forced` (an
        `--overload` run) takes the run's in every case."""
        return run if forced else self.connections or run


def discover() -> dict[str, Scenario]:
    """Every `SCENARIO` in `bench/scenarios/*.py` (modules starting with `_` are helpers)."""
    import bench.scenarios as package

    found: dict[str, Scenario] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if not isinstance(scenario, Scenario):
            raise TypeError(f"bench/scenarios/{info.name}.py defines no SCENARIO = Scenario(...)")
        if scenario.name in found:
            raise ValueError(f"two scenarios are named {scenario.name!r}")
        found[scenario.name] = scenario
    return found
