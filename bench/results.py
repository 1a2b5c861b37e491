"""The numbers of a run: one measured load run, rounds of A/B pairs, and cases of rounds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from bench.config import Profile
from bench.scenario import Target


@dataclass(frozen=True)
class Measurement:
    """One wrk run against one server."""

    requests: int
    duration_s: float
    wall_s: float
    rps: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    bytes_per_response: float
    server_cpu_s: float
    client_cpu_s: float
    unaccepted: int | None = None
    """Connections waiting in the server's accept queue half-way through (never served)."""
    db_cpu_s: float | None = None
    """CPU of the PostgreSQL server during the run, all its processes, backends that started
    or ended during the run included (see bench/dbprobe.py); None on SQLite."""
    db_cpu_live_s: float | None = None
    """The same, counting only the processes still alive at the end of the run: a backend
    that exited during the run is missing from it (the harness's figure before schema 2)."""
    db_sessions: int | None = None
    """PostgreSQL sessions opened on the bench database during the run (by anyone)."""
    db_sessions_elsewhere: int | None = None
    """Sessions opened on the same server's other databases during the run: another user of
    the server, whose backends' CPU is in `db_cpu_s` too."""
    machine_busy_s: float = 0.0
    """CPU seconds the whole machine was busy (all cores, softirq included) during the run."""
    machine_idle_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    """Responses by HTTP status, when the driver counted them."""
    latency_by_status: dict[str, dict[str, float]] = field(default_factory=dict)
    """Latency percentiles (ms) of each status's answers alone (`--by-status` runs)."""
    retry_after: dict[str, int] = field(default_factory=dict)
    """Answers carrying Retry-After, by status (`--by-status` runs)."""
    unfinished: int | None = None
    """Requests still unanswered at the end of the run (`--by-status` runs)."""

    @property
    def machine_busy(self) -> float:
        """Fraction of the machine's CPU capacity in use during the run."""
        total = self.machine_busy_s + self.machine_idle_s
        return self.machine_busy_s / total if total > 0 else 0.0

    @property
    def other_cpu_s(self) -> float:
        """Busy CPU not in the server, wrk or PostgreSQL: softirq, other processes."""
        known = self.server_cpu_s + self.client_cpu_s + (self.db_cpu_s or 0.0)
        return max(0.0, self.machine_busy_s - known)

    @property
    def db_cpu_exited_s(self) -> float | None:
        """CPU of the database processes that exited during the run (while they ran in it)."""
        if self.db_cpu_s is None or self.db_cpu_live_s is None:
            return None
        return max(0.0, self.db_cpu_s - self.db_cpu_live_s)

    @property
    def p50_ms(self) -> float:
        return self.latency_ms.get("p50", 0.0)

    @property
    def p99_ms(self) -> float:
        return self.latency_ms.get("p99", 0.0)

    @property
    def req_per_cpu_s(self) -> float:
        return self.requests / self.server_cpu_s if self.server_cpu_s > 0 else 0.0

    @property
    def server_cpu_util(self) -> float:
        """Server CPU seconds per wall second (2.0 would be both cores of this machine)."""
        return self.server_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["p50_ms"] = self.p50_ms
        data["p99_ms"] = self.p99_ms
        data["req_per_cpu_s"] = self.req_per_cpu_s
        data["server_cpu_util"] = self.server_cpu_util
        data["machine_busy"] = self.machine_busy
        data["other_cpu_s"] = self.other_cpu_s
        data["db_cpu_exited_s"] = self.db_cpu_exited_s
        return data


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


@dataclass(frozen=True)
class Round:
    number: int
    app: Measurement
    limit: Measurement

    @property
    def ratio(self) -> float:
        """App throughput as a fraction of the limit's."""
        return _ratio(self.app.rps, self.limit.rps)

    @property
    def cpu_ratio(self) -> float:
        """App requests per server CPU-second as a fraction of the limit's."""
        return _ratio(self.app.req_per_cpu_s, self.limit.req_per_cpu_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.number,
            "app": self.app.to_json(),
            "limit": self.limit.to_json(),
            "ratio": self.ratio,
            "cpu_ratio": self.cpu_ratio,
        }


@dataclass(frozen=True)
class Verdict:
    target: Target
    met: bool
    measured: str


@dataclass
class Case:
    """One scenario on one profile at one number of connections: its rounds and medians."""

    scenario: str
    profile: Profile
    connections: int
    rounds: list[Round] = field(default_factory=list)

    def median(self, side: str, attr: str) -> float:
        values = [float(getattr(getattr(r, side), attr)) for r in self.rounds]
        return median(values) if values else 0.0

    @property
    def has_db_cpu(self) -> bool:
        return bool(self.rounds) and all(
            r.app.db_cpu_s is not None and r.limit.db_cpu_s is not None for r in self.rounds
        )

    @property
    def has_db_sessions(self) -> bool:
        return bool(self.rounds) and all(
            r.app.db_sessions is not None and r.limit.db_sessions is not None for r in self.rounds
        )

    def db_sessions(self, side: str, *, elsewhere: bool = False) -> int | None:
        """New sessions on the bench database (`elsewhere`: on the server's other databases)
        over all measured runs of `side`; None when not counted."""
        if not self.has_db_sessions:
            return None
        attr = "db_sessions_elsewhere" if elsewhere else "db_sessions"
        return sum(int(getattr(getattr(r, side), attr) or 0) for r in self.rounds)

    @property
    def by_status(self) -> bool:
        """Whether this case's answers were timed by status (`--by-status`)."""
        return bool(self.rounds) and all(
            r.app.latency_by_status or r.limit.latency_by_status for r in self.rounds
        )

    def status_split(self, side: str) -> dict[str, dict[str, float]]:
        """By status: answers over all rounds, their share, answers per second (median over
        rounds), latency percentiles (medians over the rounds that had such answers) and
        how many carried Retry-After."""
        measurements: list[Measurement] = [getattr(r, side) for r in self.rounds]
        statuses = sorted({s for m in measurements for s in m.statuses})
        total = sum(m.requests for m in measurements)
        split: dict[str, dict[str, float]] = {}
        for status in statuses:
            count = sum(m.statuses.get(status, 0) for m in measurements)
            row: dict[str, float] = {
                "responses": count,
                "share": count / total if total else 0.0,
                "rps": median(
                    m.statuses.get(status, 0) / m.duration_s if m.duration_s else 0.0
                    for m in measurements
                ),
                "retry_after": sum(m.retry_after.get(status, 0) for m in measurements),
            }
            for key in ("p50", "p90", "p99", "max"):
                values = [
                    m.latency_by_status[status][key]
                    for m in measurements
                    if key in m.latency_by_status.get(status, {})
                ]
                if values:
                    row[f"{key}_ms"] = median(values)
            split[status] = row
        return split

    def max_unaccepted(self, side: str) -> int | None:
        values = [getattr(r, side).unaccepted for r in self.rounds]
        known = [v for v in values if v is not None]
        return max(known) if known else None

    @property
    def ratio(self) -> float:
        return median(r.ratio for r in self.rounds) if self.rounds else 0.0

    @property
    def cpu_ratio(self) -> float:
        return median(r.cpu_ratio for r in self.rounds) if self.rounds else 0.0

    @property
    def errors(self) -> dict[str, int]:
        return {
            side: sum(getattr(r, side).error_count for r in self.rounds)
            for side in ("app", "limit")
        }

    def check(self, target: Target) -> Verdict | None:
        """Whether the medians meet `target`; None when the target is not for this case."""
        if target.connections is not None and target.connections != self.connections:
            return None
        if target.profile is not None and target.profile != self.profile:
            return None
        met = True
        measured = []
        if target.min_ratio is not None:
            met &= self.ratio >= target.min_ratio
            measured.append(f"{self.ratio:.2f}x limit")
        if target.max_p99_ms is not None:
            p99 = self.median("app", "p99_ms")
            met &= p99 < target.max_p99_ms
            measured.append(f"p99 {p99:.1f} ms")
        errors = self.errors
        if errors["app"] or errors["limit"]:
            # A side that answered with errors (timeouts, non-2xx) did different work: the
            # ratio compares nothing, so no target counts as met.
            met = False
            measured.append(f"INVALID: {errors['app']} app / {errors['limit']} limit errors")
        return Verdict(target, met, ", ".join(measured))

    def summary_json(self) -> dict[str, Any]:
        sides: dict[str, dict[str, Any]] = {
            side: {
                "rps": self.median(side, "rps"),
                "p50_ms": self.median(side, "p50_ms"),
                "p99_ms": self.median(side, "p99_ms"),
                "req_per_cpu_s": self.median(side, "req_per_cpu_s"),
                "server_cpu_util": self.median(side, "server_cpu_util"),
                "machine_busy": self.median(side, "machine_busy"),
                "bytes_per_response": self.median(side, "bytes_per_response"),
                "unaccepted": self.max_unaccepted(side),
                "db_cpu_s": self.median(side, "db_cpu_s") if self.has_db_cpu else None,
                "db_cpu_live_s": self.median(side, "db_cpu_live_s") if self.has_db_cpu else None,
                "db_sessions": (self.median(side, "db_sessions") if self.has_db_sessions else None),
                "db_sessions_total": self.db_sessions(side),
                "db_sessions_elsewhere_total": self.db_sessions(side, elsewhere=True),
            }
            for side in ("app", "limit")
        }
        if self.by_status:
            for side in ("app", "limit"):
                sides[side]["by_status"] = self.status_split(side)
        return {**sides, "ratio": self.ratio, "cpu_ratio": self.cpu_ratio, "errors": self.errors}
