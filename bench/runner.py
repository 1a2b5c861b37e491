"""A full run: for each profile start Waymark, then for each scenario start its limit, check
that both answer alike, warm both up, and measure them alternately, round after round."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bench.config import PROFILES, Profile, RunSettings
from bench.dbprobe import PostgresProbe
from bench.loadgen import LoadgenDriver
from bench.machine import machine_facts, package_versions
from bench.procs import Interrupted, ProcessSet, Server, cpu_delta, machine_cpu
from bench.report import Report
from bench.results import Case, Measurement, Round
from bench.scenario import AppContext, Driver, Response, Scenario, Workload, discover, fetch
from bench.stack import (
    Database,
    database,
    extra_waymark_env,
    start_limit,
    start_waymark,
)
from bench.wrk import WrkDriver, ensure_wrk, wrk_version


def select_scenarios(settings: RunSettings) -> list[Scenario]:
    available = discover()
    if not settings.scenarios:
        return list(available.values())
    unknown = [name for name in settings.scenarios if name not in available]
    if unknown:
        raise SystemExit(f"unknown scenario {', '.join(unknown)}; known: {', '.join(available)}")
    return [available[name] for name in settings.scenarios]


def plan(
    settings: RunSettings, scenarios: Sequence[Scenario]
) -> list[tuple[Profile, list[Scenario]]]:
    """Scenarios grouped by the profile they run on, in the order of PROFILES."""
    grouped = []
    for profile in PROFILES:
        if profile not in settings.profiles:
            continue
        chosen = [s for s in scenarios if profile in s.profiles]
        if chosen:
            grouped.append((profile, chosen))
    return grouped


def estimate_seconds(settings: RunSettings, groups: list[tuple[Profile, list[Scenario]]]) -> float:
    cases = sum(
        len(sc.connection_counts(settings.connections, forced=settings.overload))
        for _, scs in groups
        for sc in scs
    )
    per_case = 2 * (settings.warmup + 1) + settings.rounds * 2 * (settings.duration + 0.7)
    return cases * per_case + 15 * len(groups) + 5 * cases / max(1, len(settings.connections))


@dataclass
class Tracker:
    """The progress bar of a run and the lines printed above it."""

    progress: Progress
    task: TaskID

    def status(self, text: str) -> None:
        self.progress.update(self.task, description=text)

    def advance(self) -> None:
        self.progress.advance(self.task)

    def print(self, text: str) -> None:
        self.progress.console.print(text)


@dataclass
class Side:
    """One of the two servers of a comparison, and how load is driven at it."""

    name: str
    server: Server
    driver: Driver
    workload: Workload
    db: PostgresProbe | None = None


class Runner:
    def __init__(self, settings: RunSettings, console: Console | None = None) -> None:
        self.settings = settings
        # Not a terminal (make, CI, a pipe): rich would wrap at 80 columns.
        self.console = console or Console(width=None if sys.stdout.isatty() else 160)
        self.wrk = ""
        self.report = Report(started_at=_now())
        self.tracker = Tracker(Progress(console=self.console), TaskID(0))

    # -- measuring ---------------------------------------------------------------------------

    def measure(self, side: Side, connections: int, duration: float) -> Measurement:
        s = self.settings
        db_before = side.db.snapshot() if side.db else None
        before = side.server.cpu_seconds()
        busy_before, idle_before = machine_cpu()
        start = time.monotonic()
        result = side.driver(
            side.server.port,
            side.workload,
            connections=connections,
            duration=duration,
            threads=s.threads,
            timeout=s.timeout,
        )
        wall = time.monotonic() - start
        busy_after, idle_after = machine_cpu()
        cpu = cpu_delta(before, side.server.cpu_seconds())
        db = side.db.usage(db_before, side.db.snapshot()) if side.db and db_before else None
        if side.workload.lanes:
            self.settle(side)
        return Measurement(
            requests=result.requests,
            duration_s=result.duration_s,
            wall_s=wall,
            rps=result.rps,
            latency_ms=result.latency_ms,
            errors=result.errors,
            bytes_per_response=result.bytes / result.requests if result.requests else 0.0,
            server_cpu_s=cpu,
            client_cpu_s=result.client_cpu_s,
            unaccepted=result.unaccepted,
            db_cpu_s=db.cpu_s if db else None,
            db_cpu_live_s=db.cpu_live_s if db else None,
            db_sessions=db.sessions if db else None,
            db_sessions_elsewhere=db.sessions_elsewhere if db else None,
            machine_busy_s=busy_after - busy_before,
            machine_idle_s=idle_after - idle_before,
            statuses=result.statuses,
            latency_by_status=result.latency_by_status,
            retry_after=result.retry_after,
            unfinished=result.unfinished,
        )

    def settle(self, side: Side, *, quiet: float = 0.3, most: float = 15.0) -> None:
        """Wait, at most `most` s, until the server has served what the last run sent.

        A run stops with requests in flight, and a server behind on its work (at 512
        connections the app queues for its pool up to the pool timeout) serves them after
        wrk has gone. For a workload with lanes (writes) those late writes would land in the
        next run, on topics that run is changing too, and turn some of its changes into
        no-ops. Served means: no session of the bench database in a statement or a
        transaction, and the server's processes using no more than 2 clock ticks of CPU in
        `quiet` s (the CPU alone where there is no probe, as on SQLite)."""
        deadline = time.monotonic() + most
        window: list[tuple[float, float]] = []
        while time.monotonic() < deadline:
            now = time.monotonic()
            window.append((now, sum(side.server.cpu_seconds().values())))
            window = [(t, cpu) for t, cpu in window if t >= now - quiet]
            spent = window[-1][1] - window[0][1]
            long_enough = window[-1][0] - window[0][0] >= quiet * 0.8
            if long_enough and spent <= 0.02 and not (side.db and side.db.busy_sessions()):
                return
            time.sleep(0.05)
        self.console.print(f"[yellow]warning[/]: {side.name} still busy {most:g} s after a run")

    def check_alike(
        self, scenario: Scenario, workload: Workload, app: Server, limit: Server
    ) -> None:
        """Both servers must answer every request of the workload the way the scenario expects.

        Requests are sent to one server then the other, one by one; for a workload with lanes
        (writes) all to the app, then all to the limit (`Workload.lanes`), so that each
        server's answer depends on what it did itself."""
        answers: Iterable[tuple[Response, Response]]
        if workload.lanes:
            answers = zip(
                [fetch(app.port, request) for request in workload.requests],
                [fetch(limit.port, request) for request in workload.requests],
                strict=True,
            )
        else:
            answers = ((fetch(app.port, r), fetch(limit.port, r)) for r in workload.requests)
        mismatched = 0
        for request, (a, b) in zip(workload.requests, answers, strict=True):
            for who, resp in (("app", a), ("limit", b)):
                if resp.status != workload.expect_status:
                    raise RuntimeError(
                        f"{scenario.name}: {who} answered {resp.status} to {request.method} "
                        f"{request.path}, expected {workload.expect_status}: {resp.body[:300]!r}"
                    )
                marker = workload.expect_in_body
                if marker is not None and marker not in resp.body:
                    raise RuntimeError(
                        f"{scenario.name}: {who}'s answer to {request.method} {request.path} "
                        f"lacks {marker!r}: {resp.body[:300]!r}"
                    )
            if workload.same_body and a.body != b.body:
                raise RuntimeError(f"{scenario.name}: the limit's body differs from the app's")
            if a.body != b.body and _json_or_none(a.body) != _json_or_none(b.body):
                mismatched += 1
        for request in workload.refused:
            for who, server in (("app", app), ("limit", limit)):
                status = fetch(server.port, request).status
                if status != workload.refused_status:
                    raise RuntimeError(
                        f"{scenario.name}: {who} answered {status} to a request it must refuse "
                        f"with {workload.refused_status} ({request.method} {request.path})"
                    )
        if mismatched:
            note = (
                f"{scenario.name}: {mismatched}/{len(workload.requests)} limit bodies differ from "
                "the app's as JSON: align the limit's shape with the app's."
            )
            self.report.notes.append(note)
            self.console.print(f"[yellow]warning[/]: {note}")

    def run_case(
        self,
        scenario: Scenario,
        profile: Profile,
        connections: int,
        app: Side,
        limit: Side,
    ) -> Case:
        s = self.settings
        case = Case(scenario.name, profile, connections)
        self.report.cases.append(case)
        label = f"{scenario.name} ({profile}) c={connections}"
        for side in (app, limit):
            self.tracker.status(f"{label}: warming up {side.name}")
            self.measure(side, connections, s.warmup)
        for number in range(1, s.rounds + 1):
            measured: dict[str, Measurement] = {}
            for side in (app, limit):
                self.tracker.status(f"{label}: round {number} {side.name}")
                m = self.measure(side, connections, s.duration)
                measured[side.name] = m
                self.tracker.advance()
                split = bool(m.latency_by_status)  # the statuses follow, with their latency
                errors = (
                    f"  [red]{m.error_count} errors"
                    f"{'' if split else _by_status(m, app.workload)}[/]"
                    if m.error_count
                    else ""
                )
                if m.errors.get("body"):
                    note = (
                        f"{label} r{number} {side.name}: {m.errors['body']} answers without "
                        f"{app.workload.expect_in_body!r} (errors, `body`)"
                    )
                    self.report.notes.append(note)
                    errors += (
                        f"  [red]{m.errors['body']} without {app.workload.expect_in_body!r}[/]"
                    )
                if m.unaccepted:
                    errors += f"  [yellow]{m.unaccepted} conns unaccepted[/]"
                db = ""
                if m.db_cpu_s is not None:
                    db += f"  db {m.db_cpu_s:4.2f} s"
                if m.db_sessions is not None:
                    db += f" {m.db_sessions} sess"
                if split:
                    errors += "  " + _status_split(m)
                self.tracker.print(
                    f"  {label} r{number} {side.name:<5} {m.rps:>9,.0f} req/s  "
                    f"p50 {m.p50_ms:6.1f} ms  p99 {m.p99_ms:6.1f} ms  "
                    f"cpu {m.server_cpu_s:5.2f} s  {m.req_per_cpu_s:>8,.0f} req/cpu-s  "
                    f"machine {100 * m.machine_busy:3.0f}% busy{db}{errors}"
                )
            rnd = Round(number, measured["app"], measured["limit"])
            case.rounds.append(rnd)
            self.tracker.print(
                f"  {label} r{number} [bold]ratio {rnd.ratio:.2f}[/] "
                f"(cpu ratio {rnd.cpu_ratio:.2f})"
            )
        return case

    # -- the whole run -----------------------------------------------------------------------

    def run(self) -> Report:
        s = self.settings
        scenarios = select_scenarios(s)
        groups = plan(s, scenarios)
        if not groups:
            raise SystemExit("nothing to run: no selected scenario runs on the selected profiles")
        self.wrk = ensure_wrk()
        self.report.scenarios = [sc for sc in scenarios if any(sc in g for _, g in groups)]
        self.report.machine = machine_facts()
        self.report.versions = package_versions()
        self.report.settings = self._settings_facts()
        self._check_quiet()
        total = sum(
            len(sc.connection_counts(s.connections, forced=s.overload))
            for _, g in groups
            for sc in g
        ) * (s.rounds * 2)
        self.console.print(
            f"[bold]Waymark bench[/]: {', '.join(sc.name for sc in self.report.scenarios)} · "
            f"profiles {', '.join(p for p, _ in groups)} · connections "
            f"{', '.join(map(str, s.connections))} · {s.rounds} rounds x {s.duration:g}s "
            f"(warmup {s.warmup:g}s) · about {estimate_seconds(s, groups) / 60:.0f} min"
        )
        try:
            with tempfile.TemporaryDirectory(prefix="waymark-bench-") as tmp, ProcessSet() as procs:
                workdir = Path(tmp)
                with self._progress() as progress:
                    self.tracker = Tracker(progress, progress.add_task("starting", total=total))
                    for profile, profile_scenarios in groups:
                        self._run_profile(procs, workdir, profile, profile_scenarios)
            self.report.status = "complete"
        except (KeyboardInterrupt, Interrupted):
            self.report.status = "interrupted"
            self.console.print("[yellow]interrupted: every server started was stopped[/]")
            raise
        except Exception as exc:
            self.report.status = "failed"
            self.report.notes.append(f"run failed: {type(exc).__name__}: {str(exc)[:500]}")
            raise
        finally:
            self.report.finished_at = _now()
            self.report.cases = [c for c in self.report.cases if c.rounds]
            md, js = self.report.write(s.output_dir)
            self.console.print(f"report: {md} and {js}")
        return self.report

    def _run_profile(
        self,
        procs: ProcessSet,
        workdir: Path,
        profile: Profile,
        scenarios: list[Scenario],
    ) -> None:
        s = self.settings
        with ExitStack() as stack:
            self.tracker.status(f"({profile}) creating the database")
            db: Database = stack.enter_context(database(s, profile, workdir))
            if db.server_version:
                self.report.settings["postgresql_version"] = db.server_version
            if db.redis_version:
                self.report.settings["redis_version"] = db.redis_version
            self.tracker.status(f"({profile}) migrating, importing, starting Waymark")
            app_server = start_waymark(procs, s, db, workdir)
            stack.callback(procs.stop, app_server)
            self.tracker.print(
                f"[bold]{profile}[/]: Waymark up on {app_server.base_url} (pid {app_server.pid}, "
                f"{db.url.split('@')[-1]}{', Redis ' + db.redis_url if db.redis_url else ''})"
            )
            probe = None
            if db.admin_url and db.name:
                probe = stack.enter_context(PostgresProbe(db.admin_url, db.name, db.server_pid))
            ctx = AppContext(
                profile,
                app_server.port,
                db.url,
                s.server,
                workdir,
                redis_url=db.redis_url,
                redis_prefix=db.redis_prefix,
            )
            for scenario in scenarios:
                self._run_scenario(procs, workdir, ctx, scenario, app_server, probe)

    def _run_scenario(
        self,
        procs: ProcessSet,
        workdir: Path,
        ctx: AppContext,
        scenario: Scenario,
        app_server: Server,
        db: PostgresProbe | None,
    ) -> None:
        tag = f"{scenario.name}-{ctx.profile}"
        self.tracker.status(f"{scenario.name} ({ctx.profile}): preparing")
        workload = scenario.prepare(ctx)
        config_path = workdir / f"limit-{tag}.json"
        config_path.write_text(json.dumps(dict(workload.limit_config)))
        driver: Driver
        if scenario.driver is not None:
            driver = scenario.driver
        elif self.settings.by_status:
            driver = LoadgenDriver(workdir / tag)
        else:
            driver = WrkDriver(self.wrk, workdir / tag)
        self.tracker.status(f"{scenario.name} ({ctx.profile}): starting the limit")
        limit_server = start_limit(
            procs,
            self.settings,
            name=tag,
            target=scenario.limit_app,
            config_path=config_path,
            workdir=workdir,
        )
        try:
            self.check_alike(scenario, workload, app_server, limit_server)
            app = Side("app", app_server, driver, workload, db)
            limit = Side("limit", limit_server, driver, workload, db)
            counts = scenario.connection_counts(
                self.settings.connections, forced=self.settings.overload
            )
            for connections in counts:
                self.run_case(scenario, ctx.profile, connections, app, limit)
        finally:
            procs.stop(limit_server)

    def _check_quiet(self, seconds: float = 2.0) -> None:
        """Note how busy the machine is before anything starts: others' load skews req/s."""
        busy0, idle0 = machine_cpu()
        time.sleep(seconds)
        busy1, idle1 = machine_cpu()
        total = (busy1 - busy0) + (idle1 - idle0)
        share = (busy1 - busy0) / total if total > 0 else 0.0
        self.report.settings["machine_busy_before_run"] = f"{100 * share:.0f}%"
        if share > 0.2:
            note = (
                f"the machine was {100 * share:.0f}% busy before the run started: other "
                "processes share the cores, so req/s are low and noisy (ratios and req/CPU-s "
                "suffer less); see *other CPU s* per round"
            )
            self.report.notes.append(note)
            self.console.print(f"[yellow]warning[/]: {note}")

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )

    def _settings_facts(self) -> dict[str, object]:
        s = self.settings
        return {
            "quick": s.quick,
            "connections": list(s.connections),
            "duration_s": s.duration,
            "warmup_s": s.warmup,
            "rounds": s.rounds,
            "order": "app, limit alternating within each round",
            "load_driver": (
                "bench.loadgen (every answer timed, latency by status)" if s.by_status else "wrk"
            ),
            "wrk_threads": s.threads,
            "wrk_timeout_s": s.timeout,
            "wrk_version": wrk_version(self.wrk),
            "granian": " ".join(s.server.granian_args()),
            "granian_workers": s.server.workers,
            "granian_loop": s.server.loop,
            "db_pool": f"{s.server.pool_size} connections, no overflow",
            "waymark_env": s.server.waymark_env(),
            "waymark_env_passed_through": extra_waymark_env(),
            "postgresql_version": None,
        }


def _json_or_none(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _by_status(m: Measurement, workload: Workload) -> str:
    """` (429: 12, 503: 3)`: the unexpected statuses of a run with errors, when counted."""
    unexpected = {k: v for k, v in sorted(m.statuses.items()) if k != str(workload.expect_status)}
    return " (" + ", ".join(f"{k}: {v}" for k, v in unexpected.items()) + ")" if unexpected else ""


def _status_split(m: Measurement) -> str:
    """`200: 5,120 p99 812 ms · 503: 310 p99 5,004 ms (Retry-After 310)`, for the console."""
    parts = []
    for status, count in m.statuses.items():
        p99 = m.latency_by_status.get(status, {}).get("p99", 0.0)
        retry = m.retry_after.get(status)
        parts.append(
            f"{status}: {count:,} p99 {p99:,.0f} ms"
            + (f" (Retry-After {retry:,})" if retry else "")
        )
    return " · ".join(parts)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
