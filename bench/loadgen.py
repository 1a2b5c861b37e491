"""A load generator that times every response and splits the latencies by HTTP status.

wrk reports one latency histogram for all answers, and its Lua hooks cannot tell which
request an answer belongs to, so it cannot say how long the 200s took apart from the 503s of
a server shedding load. This client can: each connection sends one request, waits for the
whole answer and sends the next (closed loop, HTTP/1.1 keep-alive, like wrk), and every
answer's latency goes into the list of its status. It costs more CPU per request than wrk
(15-35 µs in Python on uvloop, about twice wrk's), which is why the default runs keep wrk;
the harness uses it with `--by-status` and `--overload` (`bench/README.md`).

    python -m bench.loadgen --port P --connections N --duration S --requests FILE --output OUT

runs one process (the harness starts `--threads` of them, each with its share of the
connections) and writes one JSON object to `--output`: requests answered within the duration,
bytes, errors (`connect`, `read`: a connection closed before its answer, `status`: answers
≥ 400, `timeout`: requests still unanswered at the end that had waited longer than
`--timeout`; a slow answer is an answer and counts in its status), the latencies in µs by
status, how many answers of each status carried `Retry-After`, and the requests still in
flight at the end. Requests in flight when the duration ends are not waited for (as wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.config import HOST, REPO_DIR
from bench.scenario import LaneCursors, LoadResult, Request, Workload
from bench.wrk import PERCENTILES, accept_queue


@dataclass
class Totals:
    requests: int = 0
    bytes: int = 0
    errors: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("connect", "read", "write", "status", "timeout", "body"), 0
        )
    )
    latency_us: dict[int, list[int]] = field(default_factory=dict)
    retry_after: dict[int, int] = field(default_factory=dict)
    in_flight_since: dict[int, int] = field(default_factory=dict)
    """Start time (ns) of each connection's unanswered request, by connection id."""

    def to_json(self, duration_us: int, timeout_s: float) -> dict[str, Any]:
        now = time.perf_counter_ns()
        unfinished = len(self.in_flight_since)
        overdue = sum(1 for t in self.in_flight_since.values() if now - t > timeout_s * 1e9)
        errors = dict(self.errors)
        errors["timeout"] += overdue
        return {
            "requests": self.requests,
            "duration_us": duration_us,
            "bytes": self.bytes,
            "errors": errors,
            "latency_us_by_status": {str(k): v for k, v in self.latency_us.items()},
            "retry_after": {str(k): v for k, v in self.retry_after.items()},
            "unfinished": unfinished,
        }


def format_request(
    method: str, path: str, headers: dict[str, str], body: bytes | None, host: str
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Requests:
    """The workload's requests, cycled over; with `client_ip`, each gets its own
    X-Forwarded-For (`2001:db8:<run>:<process>:<count>::1`, as the wrk script does). With
    lanes, this process's share of them instead, one request of each in turn, each lane from
    its position (`Workload.lanes`, as the wrk script does)."""

    def __init__(
        self,
        spec: dict[str, Any],
        host: str,
        run: int,
        process: int,
        *,
        workers: int = 1,
        lanes_at: list[int] | None = None,
    ) -> None:
        def item(r: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes | None]:
            body = base64.b64decode(r["body"]) if r["body"] is not None else None
            return r["method"], r["path"], dict(r["headers"]), body

        self._items = [item(r) for r in spec["requests"]]
        self._client_ip = bool(spec.get("client_ip_per_request"))
        self._host, self._run, self._process = host, run, process
        self._formatted = [format_request(*item, host) for item in self._items]
        self._sent = 0
        lanes = spec.get("lanes") or []
        self._mine = LaneCursors.share(len(lanes), process, workers)
        self._lanes = {
            lane: [format_request(*item(r), host) for r in lanes[lane]] for lane in self._mine
        }
        at = lanes_at or [0] * len(lanes)
        self._at = {lane: at[lane] % len(self._lanes[lane]) for lane in self._mine}
        self.lanes_sent = dict.fromkeys(self._mine, 0)

    def next(self, offset: int) -> bytes:
        self._sent += 1
        if self._mine:
            lane = self._mine[self._sent % len(self._mine)]
            position = self._at[lane]
            self._at[lane] = (position + 1) % len(self._lanes[lane])
            self.lanes_sent[lane] += 1
            return self._lanes[lane][position]
        index = (offset + self._sent) % len(self._items)
        if not self._client_ip:
            return self._formatted[index]
        method, path, headers, body = self._items[index]
        headers = {k: v for k, v in headers.items() if k.lower() != "x-forwarded-for"}
        headers["X-Forwarded-For"] = (
            f"2001:db8:{self._run // 65536 % 65536:x}:{self._run % 65536:x}:"
            f"{self._process:x}:{self._sent // 65536 % 65536:x}:{self._sent % 65536:x}:1"
        )
        return format_request(method, path, headers, body, self._host)


class Connection(asyncio.Protocol):
    """One keep-alive connection: send, read the whole answer, record it, send again."""

    def __init__(self, number: int, gen: Generator) -> None:
        self.number = number
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.started = 0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.send()

    def send(self) -> None:
        if not self.gen.running or self.transport is None:
            if self.transport is not None:
                self.transport.close()
            return
        self.started = time.perf_counter_ns()
        self.gen.totals.in_flight_since[self.number] = self.started
        self.transport.write(self.gen.requests.next(self.number * 7))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            parsed = _parse_response(self.buffer)
            if parsed is None:
                return
            status, retry_after, size, close = parsed
            latency = (time.perf_counter_ns() - self.started) // 1000
            self.gen.check_body(status, self.buffer[:size])
            del self.buffer[:size]
            self.gen.record(self.number, status, latency, retry_after, size)
            if close:  # the server ends the connection: connection_lost opens another
                if self.transport is not None:
                    self.transport.close()
                return
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.gen.totals.in_flight_since.pop(self.number, None) is not None and self.gen.running:
            self.gen.totals.errors["read"] += 1
        if not self.closed.done():
            self.closed.set_result(None)
        if self.gen.running:  # the server closed it: open another, as wrk does
            self.gen.open(self.number)


def _parse_response(buffer: bytearray) -> tuple[int, bool, int, bool] | None:
    """(status, has Retry-After, bytes, server closes) of the complete response at the start
    of `buffer`, or None while it is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    version, status_text = head[0].split(" ", 2)[:2]
    status = int(status_text)
    length = 0
    chunked = retry_after = False
    close = version == "HTTP/1.0"
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "retry-after":
            retry_after = True
        elif name == "connection":
            close = value.strip().lower() == "close"
    start = end + 4
    if status in (204, 304) or status < 200:  # never a body, whatever Content-Length says
        return status, retry_after, start, close
    if not chunked:
        size = start + length
        return (status, retry_after, size, close) if len(buffer) >= size else None
    pos = start
    while True:  # chunks: <hex size>\r\n<data>\r\n ... 0\r\n\r\n
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2 + size + 2
        if len(buffer) < pos:
            return None
        if size == 0:
            return status, retry_after, pos, close


class Generator:
    def __init__(
        self,
        requests: Requests,
        port: int,
        connections: int,
        expect_in_body: tuple[int, bytes] | None = None,
    ) -> None:
        self.requests = requests
        self.port = port
        self.connections = connections
        self.expect_in_body = expect_in_body
        self.totals = Totals()
        self.running = False
        self.measuring = False
        self.opened: list[Connection] = []
        self._tasks: set[asyncio.Future[None]] = set()

    def check_body(self, status: int, response: bytearray) -> None:
        """Count an answer of the expected status without the expected bytes (`body`)."""
        if self.expect_in_body is None or not self.measuring:
            return
        expected_status, marker = self.expect_in_body
        if status == expected_status and response.find(marker, response.find(b"\r\n\r\n")) < 0:
            self.totals.errors["body"] += 1

    def record(self, number: int, status: int, latency_us: int, retry: bool, size: int) -> None:
        self.totals.in_flight_since.pop(number, None)
        if not self.measuring:
            return
        t = self.totals
        t.requests += 1
        t.bytes += size
        t.latency_us.setdefault(status, []).append(latency_us)
        if status >= 400:
            t.errors["status"] += 1
        if retry:
            t.retry_after[status] = t.retry_after.get(status, 0) + 1

    async def _connect(self, number: int) -> None:
        """Open connection `number`; while the run lasts, retry every 0.1 s if refused."""
        loop = asyncio.get_running_loop()
        while self.running:
            try:
                _t, conn = await loop.create_connection(
                    lambda: Connection(number, self), HOST, self.port
                )
            except OSError:
                self.totals.errors["connect"] += 1
                await asyncio.sleep(0.1)
            else:
                self.opened.append(conn)
                return

    def open(self, number: int) -> None:
        task = asyncio.ensure_future(self._connect(number))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, duration: float, overdue_after: float) -> dict[str, Any]:
        self.running = self.measuring = True
        start = time.perf_counter_ns()
        for number in range(self.connections):
            self.open(number)
        await asyncio.sleep(duration)
        self.measuring = False
        elapsed_us = (time.perf_counter_ns() - start) // 1000
        result = self.totals.to_json(elapsed_us, overdue_after)
        self.running = False
        for task in list(self._tasks):
            task.cancel()
        for conn in self.opened:
            if conn.transport is not None:
                conn.transport.close()
        if self.opened:
            await asyncio.wait([c.closed for c in self.opened], timeout=5)
        return result


# -- the harness's side: a Driver that runs `threads` of these processes and merges them ---


def percentiles(values: list[int]) -> dict[str, float]:
    """min, max, mean and the report's percentiles of latencies in µs, in milliseconds."""
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)
    out = {"min": ordered[0] / 1000, "max": ordered[-1] / 1000, "mean": sum(ordered) / n / 1000}
    for p in PERCENTILES:
        rank = max(1, math.ceil(p / 100 * n))  # nearest rank
        out[f"p{p:g}"] = ordered[rank - 1] / 1000
    return out


class LoadgenDriver:
    """A `Driver` for `--by-status` runs: `threads` loadgen processes, one result."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._specs: dict[int, tuple[Workload, Path, LaneCursors | None]] = {}

    def spec(self, workload: Workload) -> tuple[Path, LaneCursors | None]:
        known = self._specs.get(id(workload))
        if known is not None and known[0] is workload:
            return known[1], known[2]
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"loadgen-{len(self._specs)}.json"

        def encode(requests: Sequence[Request]) -> list[dict[str, Any]]:
            return [
                {
                    "method": r.method,
                    "path": r.path,
                    "headers": dict(r.headers),
                    "body": base64.b64encode(r.body).decode() if r.body is not None else None,
                }
                for r in requests
            ]

        expect = workload.expect_in_body
        spec = {
            "requests": encode(workload.requests),
            "client_ip_per_request": workload.client_ip_per_request,
            "lanes": [encode(lane) for lane in workload.lanes],
            "expect_in_body": [workload.expect_status, base64.b64encode(expect).decode()]
            if expect is not None
            else None,
        }
        path.write_text(json.dumps(spec))
        cursors = LaneCursors(workload.lanes) if workload.lanes else None
        self._specs[id(workload)] = (workload, path, cursors)
        return path, cursors

    def _output(self, process: int) -> Path:
        return self.workdir / f"loadgen-result-{process}.json"

    def __call__(
        self,
        port: int,
        workload: Workload,
        *,
        connections: int,
        duration: float,
        threads: int,
        timeout: float,
    ) -> LoadResult:
        spec, cursors = self.spec(workload)
        for stale in self.workdir.glob("loadgen-result-*.json"):
            stale.unlink()
        processes = max(1, min(threads, connections))
        lanes: list[str] = []
        if cursors is not None:
            if len(cursors.lengths) < processes:
                raise ValueError(f"{len(cursors.lengths)} lanes cannot keep {processes} busy")
            lanes = [
                f"--workers={processes}",
                f"--lanes-at={','.join(map(str, cursors.positions))}",
            ]
        shares = [
            connections // processes + (i < connections % processes) for i in range(processes)
        ]
        run = int(time.time() * 10) % 2**32
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        procs: list[subprocess.Popen[str]] = []
        try:
            for number, share in enumerate(shares):
                argv = [
                    sys.executable,
                    "-m",
                    "bench.loadgen",
                    f"--port={port}",
                    f"--connections={share}",
                    f"--duration={duration:g}",
                    f"--timeout={timeout:g}",
                    f"--requests={spec}",
                    f"--run={run}",
                    f"--process={number}",
                    f"--output={self._output(number)}",
                    *lanes,
                ]
                procs.append(
                    subprocess.Popen(
                        argv,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                        cwd=REPO_DIR,
                    )
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(timeout=duration / 2)
            waiting = accept_queue(port)
            outputs = [proc.communicate(timeout=duration + 60) for proc in procs]
        except BaseException:  # a timeout, Ctrl-C or SIGTERM: stop every process by its pid
            for proc in procs:
                proc.kill()
                proc.communicate()
            raise
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        parts = []
        for number, (proc, (_out, stderr)) in enumerate(zip(procs, outputs, strict=True)):
            if proc.returncode != 0:
                raise RuntimeError(f"bench.loadgen exited {proc.returncode}: {stderr[-2000:]}")
            parts.append(json.loads(self._output(number).read_text()))
        result = merge(parts, waiting, client_cpu_s=_cpu(after) - _cpu(before))
        if cursors is not None:
            cursors.advance(result.lanes_sent)
        return result


def merge(parts: list[dict[str, Any]], unaccepted: int | None, client_cpu_s: float) -> LoadResult:
    """One LoadResult from the processes' JSON lines."""
    by_status: dict[str, list[int]] = {}
    errors: dict[str, int] = {}
    retry_after: dict[str, int] = {}
    lanes_sent: dict[int, int] = {}
    for part in parts:
        for lane, count in part.get("lanes_sent", {}).items():
            lanes_sent[int(lane)] = lanes_sent.get(int(lane), 0) + int(count)
        for status, values in part["latency_us_by_status"].items():
            by_status.setdefault(status, []).extend(values)
        for name, count in part["errors"].items():
            errors[name] = errors.get(name, 0) + int(count)
        for status, count in part["retry_after"].items():
            retry_after[status] = retry_after.get(status, 0) + int(count)
    everything = [v for values in by_status.values() for v in values]
    return LoadResult(
        requests=sum(int(p["requests"]) for p in parts),
        duration_s=max(float(p["duration_us"]) for p in parts) / 1e6,
        bytes=sum(int(p["bytes"]) for p in parts),
        errors=errors,
        latency_ms=percentiles(everything),
        client_cpu_s=client_cpu_s,
        unaccepted=unaccepted,
        statuses={status: len(values) for status, values in sorted(by_status.items())},
        latency_by_status={s: percentiles(v) for s, v in sorted(by_status.items())},
        retry_after=retry_after,
        unfinished=sum(int(p["unfinished"]) for p in parts),
        lanes_sent=lanes_sent,
    )


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--run", type=int, default=0, help="run number, for unique client IPs")
    parser.add_argument("--process", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True, help="where the JSON result goes")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the lanes")
    parser.add_argument("--lanes-at", default="", help="each lane's starting position")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.connections + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 1024), hard))
    spec = json.loads(args.requests.read_text())
    requests = Requests(
        spec,
        f"{HOST}:{args.port}",
        args.run,
        args.process,
        workers=args.workers,
        lanes_at=[int(v) for v in args.lanes_at.split(",")] if args.lanes_at else None,
    )
    expect = spec.get("expect_in_body")
    generator = Generator(
        requests,
        args.port,
        args.connections,
        (int(expect[0]), base64.b64decode(expect[1])) if expect else None,
    )

    import uvloop

    result = uvloop.run(generator.run(args.duration, args.timeout))
    result["lanes_sent"] = requests.lanes_sent  # every request sent, measured or not
    # A file, not stdout: after uvloop, a result larger than the pipe's buffer came out cut.
    args.output.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
