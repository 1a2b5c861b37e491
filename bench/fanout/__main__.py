"""Fan-out of live events, beside its limit (issue 14, "Speed and scale").

    .venv/bin/python -m bench.fanout [-t sse|ws] [--gateway] [-n 1000] [--hold 10000] [-o DIR]

`sse-fanout` (`-t sse`, streams of `GET /api/v1/me/events?team=`) or `ws-fanout` (`-t ws`,
WebSockets at `/api/v1/live`, each with its own ticket, subscribed to the team's channel;
with `--gateway`, `ws-gateway-fanout`: the sockets on the live gateway, `waymark live`,
beside the app, which issues their tickets and takes the changes; the gateway's CPU and
memory are what is measured).
One team channel, `n` open streams following it; a member's progress changes, made through
the API (`PUT /api/v1/me/progress/backend/topics/{id}`), reach every stream. Measured:

- **latency**: `--events` changes, `--spacing` seconds apart; for each, from just before its
  PUT is sent to its arrival on each stream (p50 / p99 over every delivery);
- **throughput**: `--burst` changes sent back to back; deliveries per second, from the first
  send to the last arrival, and the server's CPU per delivery;
- **memory**: `--hold` streams open at once (none reading anything but their `ready`): the
  resident memory of the server's processes.

The limit holds the same streams and sends the same event bytes (a frame the app sent,
captured by the subscribers) when told to: for SSE `bench/limits/raw_sse_fanout.py` under
the same Granian options as the app (`POST /publish`); for WebSockets a raw `websockets`
server broadcasting (`bench/limits/raw_ws_fanout.py`, as issue 14 asks; a message on
`/publish`). No token, database or broker in between; one process each.
The subscribers are one process (`bench/fanout/client.py`) on the same machine.

The run raises the app's caps on streams (`WAYMARK_LIVE__MAX_CONNECTIONS`, per account too:
every stream is the team owner's) and Granian's backpressure (each open stream is a request
in flight) for both servers, as a deployment holding this many streams would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from bench.config import HOST, REPO_DIR, RESULTS_DIR, RunSettings
from bench.machine import machine_facts
from bench.procs import ProcessSet, Server, cpu_delta, free_port
from bench.scenario import AppContext, Request, fetch
from bench.scenarios._accounts import create_accounts, login
from bench.scenarios._progress import PASSWORD, bearer, change_cycle, roadmap_json, topic_ids
from bench.scenarios._roadmap import ROADMAP_SLUG
from bench.scenarios.team_progress import build_team
from bench.stack import database, start_limit, start_live_gateway, start_waymark

KIND = "progress.topic_status_changed"
CAP = 20_000
"""Streams a server may hold for the run (the host's open-file limit is 20,000)."""
TARGETS = {"p99_ms": 250.0, "ratio": 0.5, "rss_mib": 1024.0}


@dataclass
class Side:
    """The app or the limit: where to subscribe, and how to make one event happen."""

    name: str
    server: Server
    path: str
    headers: dict[str, str]
    publish: Any
    """() -> None: cause one event on the channel (blocking)."""
    sample: str = ""
    """An event frame as the app sent it (the limit sends these bytes)."""
    client: dict[str, Any] = field(default_factory=dict)
    """What else the subscribers need (`bench/fanout/client.py: Config`)."""


@dataclass
class Measured:
    side: str
    subscribers: int
    latency_ms: dict[str, float] = field(default_factory=dict)
    deliveries_per_s: float = 0.0
    cpu_us_per_delivery: float = 0.0
    missing: int = 0
    closed: int = 0


class Subscribers:
    """The client process holding `n` streams of one side."""

    def __init__(self, side: Side, n: int) -> None:
        config = {
            "transport": "sse",
            **side.client,
            "host": HOST,
            "port": side.server.port,
            "path": side.path,
            "headers": side.headers,
            "connections": n,
            "kind": KIND,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout.client"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_DIR,
            start_new_session=True,
        )
        self._send(config)
        self.ready = self._read()

    def _send(self, message: dict[str, Any]) -> None:
        stdin = cast(BinaryIO, self.proc.stdin)
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()

    def _read(self) -> dict[str, Any]:
        """The client's next answer (it bounds every wait itself)."""
        line = cast(BinaryIO, self.proc.stdout).readline()
        if not line:
            raise RuntimeError(f"the subscribers exited ({self.proc.wait()})")
        return cast(dict[str, Any], json.loads(line))

    def expect(self, events: int, timeout: float) -> dict[str, Any]:
        self._send({"expect": events, "timeout": timeout})
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"close": True})
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(side: Side, n: int, *, events: int, spacing: float, burst: int) -> Measured:
    result = Measured(side.name, n)
    subscribers = Subscribers(side, n)
    try:
        sent = []
        for _ in range(events):
            sent.append(time.monotonic())
            side.publish()
            time.sleep(spacing)
        got = subscribers.expect(events, timeout=30)
        delays = [
            (arrival - sent[k]) * 1000
            for arrivals in got["arrivals"]
            for k, arrival in enumerate(arrivals)
        ]
        result.missing, result.closed = got["missing"], got["closed"]
        if delays:
            result.latency_ms = {
                "p50": round(percentile(delays, 0.5), 2),
                "p99": round(percentile(delays, 0.99), 2),
                "max": round(max(delays), 2),
            }
        side.sample = got["sample"] or side.sample
        before = side.server.cpu_seconds()
        first = time.monotonic()
        for _ in range(burst):
            side.publish()
        got = subscribers.expect(burst, timeout=120)
        cpu = cpu_delta(before, side.server.cpu_seconds())
        arrived = [t for arrivals in got["arrivals"] for t in arrivals]
        result.missing += got["missing"]
        result.closed = max(result.closed, got["closed"])
        if arrived:
            result.deliveries_per_s = round(len(arrived) / (max(arrived) - first), 1)
            result.cpu_us_per_delivery = round(cpu / len(arrived) * 1e6, 2)
    finally:
        subscribers.close()
    return result


def rss_mib(server: Server) -> float:
    """Resident memory of the server's process tree, MiB."""
    total = 0
    for pid in server.cpu_seconds():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


def hold(side: Side, n: int) -> dict[str, Any]:
    idle = rss_mib(side.server)
    subscribers = Subscribers(side, n)
    try:
        time.sleep(2)
        return {
            "side": side.name,
            "streams": subscribers.ready["ready"],
            "open_seconds": subscribers.ready["seconds"],
            "refused_then_retried": subscribers.ready["refusals"],
            "rss_mib_idle": idle,
            "rss_mib": rss_mib(side.server),
        }
    finally:
        subscribers.close()


def prepare(ctx: AppContext) -> tuple[str, str, str, list[tuple[str, str]]]:
    """The team (owner and one learner, made through the API): its id, the owner's token
    (every stream's), the learner's, and the changes the learner cycles through."""
    emails = ["bench-fanout-owner@example.org", "bench-fanout-learner@example.org"]
    create_accounts(ctx, emails, PASSWORD)
    tokens = [login(ctx, email, PASSWORD, 0x3000 + i) for i, email in enumerate(emails)]
    team = build_team(ctx, list(zip(emails, tokens, strict=True)))
    return team, tokens[0], tokens[1], change_cycle(topic_ids(roadmap_json(ctx)))


def app_side(
    server: Server,
    team: str,
    owner: str,
    learner: str,
    cycle: list[tuple[str, str]],
    transport: str,
    gateway: Server | None = None,
) -> Side:
    position = [0]

    def publish() -> None:
        topic, status = cycle[position[0] % len(cycle)]
        position[0] += 1
        resp = fetch(
            server.port,
            Request(
                f"/api/v1/me/progress/{ROADMAP_SLUG}/topics/{topic}",
                method="PUT",
                headers=bearer(learner, **{"content-type": "application/json"}),
                body=json.dumps({"status": status}).encode(),
            ),
        )
        if resp.status != 200:
            raise RuntimeError(f"PUT answered {resp.status}: {resp.body[:300]!r}")

    if transport == "ws":
        subscribe = json.dumps({"type": "subscribe", "channel": f"team:{team}"})
        client = {
            "transport": "ws",
            "ticket_path": "/api/v1/me/live-tickets",
            "ticket_port": server.port,
            "subprotocol": "waymark.live.v1",
            "subscribe": subscribe,
        }
        live = gateway or server
        return Side("app", live, "/api/v1/live", bearer(owner), publish, client=client)
    return Side("app", server, f"/api/v1/me/events?team={team}", bearer(owner), publish)


def limit_side(server: Server, app: Side, transport: str, stack: ExitStack) -> Side:
    if transport == "ws":
        from websockets.sync.client import connect

        control = stack.enter_context(connect(f"ws://{HOST}:{server.port}/publish"))

        def publish_ws() -> None:
            control.send(app.sample)
            control.recv(timeout=30)

        subscribe = json.dumps({"type": "subscribe", "channel": "team:limit"})
        client = {"transport": "ws", "subscribe": subscribe}
        return Side("limit", server, "/", {}, publish_ws, client=client)

    def publish() -> None:
        frame = app.sample.encode()
        resp = fetch(server.port, Request("/publish", method="POST", body=frame))
        if resp.status != 204:
            raise RuntimeError(f"publish answered {resp.status}")

    return Side("limit", server, "/events", {}, publish)


def start_ws_limit(procs: ProcessSet, settings: RunSettings) -> Server:
    """The raw `websockets` broadcaster (`bench/limits/raw_ws_fanout.py`), on uvloop."""
    port = free_port()
    server = Server(
        name="limit ws-fanout",
        argv=[sys.executable, "-m", "bench.limits.raw_ws_fanout", "--port", str(port)],
        port=port,
        log_path=settings.output_dir / "logs" / "limit-ws-fanout.log",
        env=dict(os.environ),
        cwd=REPO_DIR,
    )
    procs.start(server)
    server.wait_ready("/readyz", timeout=60)
    return server


def summary(rounds: list[tuple[Measured, Measured]]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    return {
        "app_p50_ms": med([a.latency_ms.get("p50", 0.0) for a, _ in rounds]),
        "app_p99_ms": med([a.latency_ms.get("p99", 0.0) for a, _ in rounds]),
        "limit_p50_ms": med([b.latency_ms.get("p50", 0.0) for _, b in rounds]),
        "limit_p99_ms": med([b.latency_ms.get("p99", 0.0) for _, b in rounds]),
        "app_deliveries_per_s": med([a.deliveries_per_s for a, _ in rounds]),
        "limit_deliveries_per_s": med([b.deliveries_per_s for _, b in rounds]),
        "ratio": med(
            [a.deliveries_per_s / b.deliveries_per_s for a, b in rounds if b.deliveries_per_s]
        ),
        "app_cpu_us_per_delivery": med([a.cpu_us_per_delivery for a, _ in rounds]),
        "limit_cpu_us_per_delivery": med([b.cpu_us_per_delivery for _, b in rounds]),
        "missing": sum(a.missing + b.missing for a, b in rounds),
    }


def report(out: Path, args: argparse.Namespace, result: dict[str, Any]) -> Path:
    s, held = result["summary"], result["hold"]
    lines = [
        f"# Fan-out: {args.name}-fanout",
        "",
        f"{result['started']} · commit `{result['machine'].get('commit')}` · written by "
        '`bench/fanout` (see bench/README.md, "Fan-out")',
        "",
        f"{args.subscribers} streams on one team channel; {args.events} changes "
        f"{args.spacing} s apart for latency, {args.burst} back to back for throughput; "
        f"{args.rounds} rounds, app and limit alternating; medians.",
        "",
        "| | app | limit | target |",
        "|---|---:|---:|---|",
        f"| delivery p50 ms | {s['app_p50_ms']} | {s['limit_p50_ms']} | |",
        f"| delivery p99 ms | {s['app_p99_ms']} | {s['limit_p99_ms']} | app < 250 |",
        f"| deliveries/s | {s['app_deliveries_per_s']:,.0f} | {s['limit_deliveries_per_s']:,.0f} "
        f"| ratio {s['ratio']} (≥ 0.5) |",
        f"| server CPU µs per delivery | {s['app_cpu_us_per_delivery']} | "
        f"{s['limit_cpu_us_per_delivery']} | |",
        f"| events lost | {s['missing']} | | 0 |",
    ]
    for h in held:
        lines.append(
            f"| {h['streams']:,} streams held ({h['side']}): RSS MiB | {h['rss_mib']} "
            f"(idle {h['rss_mib_idle']}) | | < 1024 (app) |"
        )
    lines += ["", "## Rounds", "", "```", *(json.dumps(r) for r in result["rounds"]), "```", ""]
    path = out / f"{args.name}-fanout.md"
    path.write_text("\n".join(lines))
    (out / f"{args.name}-fanout.json").write_text(json.dumps(result, indent=2))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("-t", "--transport", choices=["sse", "ws"], default="sse")
    parser.add_argument(
        "--gateway", action="store_true", help="ws: the sockets on `waymark live`, beside the app"
    )
    parser.add_argument("-n", "--subscribers", type=int, default=1000)
    parser.add_argument("--hold", type=int, default=10_000, help="streams held for RSS (0: skip)")
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=0.2)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("-r", "--rounds", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.gateway and args.transport != "ws":
        parser.error("--gateway is for -t ws")
    args.name = "ws-gateway" if args.gateway else args.transport
    args.output.mkdir(parents=True, exist_ok=True)
    caps = {
        "WAYMARK_LIVE__MAX_CONNECTIONS": str(CAP),
        "WAYMARK_LIVE__MAX_CONNECTIONS_PER_ACCOUNT": str(CAP),
        "WAYMARK_HTTP__BACKPRESSURE": str(CAP),
        # ws: a ticket per socket, every socket the owner's.
        "WAYMARK_LIVE__TICKETS_PER_MINUTE": str(CAP),
    }
    os.environ.update(caps)
    settings = RunSettings(output_dir=args.output, profiles=("production",))
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with ExitStack() as stack:
        # Left in reverse: the servers stop before their database is dropped and their
        # directory removed.
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fanout-")))
        db = stack.enter_context(database(settings, "production", workdir))
        procs = stack.enter_context(ProcessSet())
        server = start_waymark(procs, settings, db, workdir)
        ctx = AppContext(
            "production",
            server.port,
            db.url,
            settings.server,
            workdir,
            db.redis_url,
            db.redis_prefix,
        )
        print("preparing the team", flush=True)
        team, owner, learner, cycle = prepare(ctx)
        gateway = start_live_gateway(procs, settings, db, workdir) if args.gateway else None
        app = app_side(server, team, owner, learner, cycle, args.transport, gateway)
        if args.transport == "ws":
            limit_server = start_ws_limit(procs, settings)
        else:
            config = workdir / "limit.json"
            config.write_text(json.dumps({"queue_size": 256}))
            limit_server = start_limit(
                procs,
                settings,
                name="sse-fanout",
                target="bench.limits.raw_sse_fanout:app",
                config_path=config,
                workdir=workdir,
                extra_args=["--backpressure", str(CAP)],
            )
        limit = limit_side(limit_server, app, args.transport, stack)
        rounds = []
        for number in range(1, args.rounds + 1):
            pair = tuple(
                measure(
                    side,
                    args.subscribers,
                    events=args.events,
                    spacing=args.spacing,
                    burst=args.burst,
                )
                for side in (app, limit)
            )
            for m in pair:
                print(f"round {number} {m.side}: {json.dumps(asdict(m))}", flush=True)
            rounds.append(cast(tuple[Measured, Measured], pair))
        held = [hold(side, args.hold) for side in (app, limit)] if args.hold else []
        for h in held:
            print(f"held: {json.dumps(h)}", flush=True)
    result = {
        "started": started,
        "machine": machine_facts(),
        "caps": caps,
        "rounds": [asdict(m) for pair in rounds for m in pair],
        "summary": summary(rounds),
        "hold": held,
        "targets": TARGETS,
    }
    print(f"report: {report(args.output, args, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
