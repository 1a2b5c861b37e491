"""Load generation with wrk: install it, script it in Lua, run it, read its numbers.

The generated Lua script cycles over the workload's requests (each thread starting at a
different offset) and, in `done()`, prints one `BENCH_JSON {...}` line with the totals and
latency percentiles, so nothing depends on parsing wrk's human-readable output.
"""

from __future__ import annotations

import contextlib
import json
import resource
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bench.config import HOST
from bench.scenario import LaneCursors, LoadResult, Request, Workload

_MARK = "BENCH_JSON "
PERCENTILES = (50.0, 75.0, 90.0, 99.0, 99.9)


def ensure_wrk() -> str:
    """Path of `wrk`, installing Debian's package with apt-get when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get (Debian package `wrk`)")
    attempts = (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"])
    install = subprocess.run(attempts[0], capture_output=True, text=True, check=False)
    if install.returncode != 0:
        # A fresh machine may not have package lists yet.
        subprocess.run(attempts[1], capture_output=True, text=True, check=False, timeout=600)
        install = subprocess.run(attempts[0], capture_output=True, text=True, check=False)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError(
            f"could not install wrk:\n{install.stdout[-1500:]}{install.stderr[-1500:]}"
        )
    return found


def wrk_version(wrk: str) -> str:
    proc = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _lua_string(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return (
        '"'
        + "".join(f"\\{b:03d}" if b < 32 or b > 126 or b in (34, 92) else chr(b) for b in data)
        + '"'
    )


def _format(req: Request, *, client_ip_per_request: bool = False) -> str:
    """The Lua arguments of `wrk.format` for `req` (method, path, headers, body)."""
    headers = ", ".join(
        f"[{_lua_string(k)}] = {_lua_string(v)}"
        for k, v in req.headers.items()
        if not (client_ip_per_request and k.lower() == "x-forwarded-for")
    )
    body = _lua_string(req.body) if req.body is not None else "nil"
    return f"{_lua_string(req.method)}, {_lua_string(req.path)}, {{{headers}}}, {body}"


def lua_script(
    requests: Sequence[Request],
    *,
    client_ip_per_request: bool = False,
    lanes: Sequence[Sequence[Request]] = (),
    expect_in_body: tuple[int, bytes] | None = None,
) -> str:
    """A wrk script that cycles over `requests` and reports in JSON when done.

    With `client_ip_per_request`, every request wrk sends carries an `X-Forwarded-For` of its
    own, unique across the runs of a whole benchmark: `2001:db8:<run>:<thread>:<count>`, in
    the documentation range (RFC 3849), so a throttle keyed by client IP sees a crowd.

    With `lanes`, it sends those instead (`Workload.lanes`): wrk's arguments after the run
    number are the number of threads and each lane's starting position, and the JSON line
    says how many requests of each lane were sent. With `expect_in_body` (status, bytes),
    answers of that status whose body lacks the bytes are counted as errors (`body`).
    """
    if not requests and not lanes:
        raise ValueError("a workload needs at least one request")
    if lanes and client_ip_per_request:
        raise ValueError("lanes and a client IP per request do not go together")
    if len(requests) == 1 and not (client_ip_per_request or lanes or expect_in_body):
        # No request() function: wrk formats the request once and reuses it, its fastest path.
        (req,) = requests
        lines = [f"wrk.method = {_lua_string(req.method)}", f"wrk.path = {_lua_string(req.path)}"]
        lines += [
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items()
        ]
        if req.body is not None:
            lines.append(f"wrk.body = {_lua_string(req.body)}")
    elif lanes:
        lines = ["local lanes = {}"]
        for lane in lanes:
            lines.append("lanes[#lanes + 1] = {")
            lines += [f"  wrk.format({_format(req)})," for req in lane]
            lines.append("}")
        lines.append(_COUNT)
        lines.append(_LANES)
    else:
        lines = ["local requests = {}"]
        for req in requests:
            args = _format(req, client_ip_per_request=client_ip_per_request)
            if client_ip_per_request:
                lines.append(f"requests[#requests + 1] = {{{args}}}")
            else:
                lines.append(f"requests[#requests + 1] = wrk.format({args})")
        lines.append(_COUNT)
        lines.append(_CYCLE)
        lines.append(_UNIQUE_IP if client_ip_per_request else _FIXED)
    if expect_in_body is not None:
        status, marker = expect_in_body
        lines.append(
            _BODY_CHECK.replace("STATUS", str(status)).replace("MARKER", _lua_string(marker))
        )
    pcts = ", ".join(f"'\"p{p:g}\": ' .. latency:percentile({p})" for p in PERCENTILES)
    lines.append(_DONE.replace("PERCENTILES", pcts).replace("MARK", _MARK))
    return "\n".join(lines) + "\n"


# Each thread counts the statuses it gets (`done()` sums them), so a run with errors says
# which. A one-request script has no such count: defining response() makes wrk hand every
# answer to Lua, which the fastest scenarios would pay for on the client side.
_COUNT = """
local threads = {}
statuses = {}
unexpected = 0

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("offset", #threads * 7)
  thread:set("id", #threads)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
"""

# Each thread starts at its own offset so that threads do not ask for the same URL in step.
_CYCLE = """
local n = #requests
local i = 0

function init(args)
  i = (tonumber(offset) or 0) % n
  run = tonumber(args[1]) or 0
end
"""

# Thread `id` of `args[2]` takes lanes id, id + args[2], ...; lane l starts at args[2 + l]
# (0-based). `sent` counts the requests of each lane, for the next run to carry on. wrk calls
# the first thread's request() once before it starts, to check what it returns, and never
# sends that request: that call only peeks.
_LANES = """
local mine = {}
local at = {}
local k = 0
local peek = false
sent = {}

function init(args)
  run = tonumber(args[1]) or 0
  local workers = tonumber(args[2]) or 1
  peek = (tonumber(id) or 1) == 1
  for lane = tonumber(id) or 1, #lanes, workers do
    mine[#mine + 1] = lane
    at[lane] = (tonumber(args[2 + lane]) or 0) % #lanes[lane]
    sent[lane] = 0
  end
end

function request()
  if peek then
    peek = false
    return lanes[mine[1]][at[mine[1]] + 1]
  end
  k = k % #mine + 1
  local lane = mine[k]
  local p = at[lane]
  at[lane] = (p + 1) % #lanes[lane]
  sent[lane] = sent[lane] + 1
  return lanes[lane][p + 1]
end
"""

_BODY_CHECK = """
local count_status = response

function response(status, headers, body)
  count_status(status, headers, body)
  if status == STATUS and not string.find(body or "", MARKER, 1, true) then
    unexpected = unexpected + 1
  end
end
"""

_FIXED = """
function request()
  i = i % n + 1
  return requests[i]
end
"""

_UNIQUE_IP = """
local sent = 0

function request()
  i = i % n + 1
  sent = sent + 1
  local r = requests[i]
  r[3]["X-Forwarded-For"] = string.format("2001:db8:%x:%x:%x:%x:%x:1",
    math.floor(run / 65536) % 65536, run % 65536, tonumber(id) or 0,
    math.floor(sent / 65536) % 65536, sent % 65536)
  return wrk.format(r[1], r[2], r[3], r[4])
end
"""

_DONE = """
local function sum(name)
  local total = {}
  for _, thread in ipairs(threads) do
    local counted = thread:get(name)
    if type(counted) == "table" then
      for key, count in pairs(counted) do
        total[key] = (total[key] or 0) + count
      end
    end
  end
  local parts = {}
  for key, count in pairs(total) do
    parts[#parts + 1] = '"' .. key .. '": ' .. count
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local e = summary.errors
  local body = 0
  if threads ~= nil and type(threads) == "table" then
    for _, thread in ipairs(threads) do
      body = body + (tonumber(thread:get("unexpected")) or 0)
    end
  end
  local parts = {
    '"requests": ' .. summary.requests,
    '"duration_us": ' .. summary.duration,
    '"bytes": ' .. summary.bytes,
    '"errors": {"connect": ' .. e.connect .. ', "read": ' .. e.read .. ', "write": ' .. e.write
      .. ', "status": ' .. e.status .. ', "timeout": ' .. e.timeout .. ', "body": ' .. body
      .. '}',
    '"latency_us": {"min": ' .. latency.min .. ', "max": ' .. latency.max
      .. ', "mean": ' .. latency.mean .. ', "stdev": ' .. latency.stdev .. ', '
      .. table.concat({PERCENTILES}, ", ") .. '}',
  }
  if threads ~= nil and type(threads) == "table" then
    parts[#parts + 1] = '"statuses": ' .. sum("statuses")
    parts[#parts + 1] = '"lanes": ' .. sum("sent")
  end
  io.write("MARK{" .. table.concat(parts, ", ") .. "}\\n")
end
"""


def accept_queue(port: int) -> int | None:
    """Connections waiting in the accept queue of the loopback listener on `port`.

    For a listening socket, /proc/net/tcp's rx_queue is the accept backlog: clients whose
    connection the kernel completed but the server has not accepted (Granian stops accepting
    once `--backpressure` requests are in flight, so such clients wait).
    """
    total: int | None = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 5 or fields[3] != "0A":  # 0A: LISTEN
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total = (total or 0) + int(fields[4].split(":")[1], 16)
    return total


def run_wrk(
    wrk: str,
    script: Path,
    port: int,
    *,
    connections: int,
    duration: float,
    threads: int,
    timeout: float,
    script_args: Sequence[str] = (),
) -> LoadResult:
    """Drive load at 127.0.0.1:`port` for `duration` seconds and return wrk's totals.

    The script gets a run number (tenths of a second since the epoch, 32 bits), so runs one
    after another never share the client IPs of `client_ip_per_request`, then
    `script_args`."""
    threads = max(1, min(threads, connections))
    seconds = max(1, round(duration))
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={max(1, round(timeout))}s",
        "--latency",
        "-s",
        str(script),
        f"http://{HOST}:{port}/",
        "--",
        str(int(time.time() * 10) % 2**32),
        *script_args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=seconds / 2)
            waiting = accept_queue(port)
            stdout, stderr = proc.communicate(timeout=seconds + 60)
        except BaseException:  # a timeout, Ctrl-C or SIGTERM: stop wrk (by its pid) at once
            proc.kill()
            proc.communicate()
            raise
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}: {stderr.strip() or stdout}")
    line = next((ln for ln in stdout.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no {_MARK.strip()} line:\n{stdout}{stderr}")
    data = json.loads(line[len(_MARK) :])
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return LoadResult(
        requests=int(data["requests"]),
        duration_s=float(data["duration_us"]) / 1e6,
        bytes=int(data["bytes"]),
        errors={k: int(v) for k, v in data["errors"].items()},
        latency_ms={k: float(v) / 1000.0 for k, v in data["latency_us"].items()},
        client_cpu_s=client_cpu,
        unaccepted=waiting,
        statuses={k: int(v) for k, v in data.get("statuses", {}).items()},
        lanes_sent={int(k) - 1: int(v) for k, v in data.get("lanes", {}).items()},
    )


class WrkDriver:
    """The default `Driver`: wrk with a generated Lua script per workload; a workload's lanes
    carry on from run to run (`LaneCursors`), whichever server the run is against."""

    def __init__(self, wrk: str, workdir: Path) -> None:
        self.wrk = wrk
        self.workdir = workdir
        self._scripts: dict[int, tuple[Workload, Path, LaneCursors | None]] = {}

    def script(self, workload: Workload) -> tuple[Path, LaneCursors | None]:
        known = self._scripts.get(id(workload))
        if known is not None and known[0] is workload:
            return known[1], known[2]
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"wrk-{len(self._scripts)}.lua"
        expect = workload.expect_in_body
        path.write_text(
            lua_script(
                workload.requests,
                client_ip_per_request=workload.client_ip_per_request,
                lanes=workload.lanes,
                expect_in_body=(workload.expect_status, expect) if expect is not None else None,
            )
        )
        cursors = LaneCursors(workload.lanes) if workload.lanes else None
        self._scripts[id(workload)] = (workload, path, cursors)
        return path, cursors

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
        script, cursors = self.script(workload)
        threads = max(1, min(threads, connections))
        args: list[str] = []
        if cursors is not None:
            if len(cursors.lengths) < threads:
                raise ValueError(f"{len(cursors.lengths)} lanes cannot keep {threads} threads busy")
            args = [str(threads), *map(str, cursors.positions)]
        result = run_wrk(
            self.wrk,
            script,
            port,
            connections=connections,
            duration=duration,
            threads=threads,
            timeout=timeout,
            script_args=args,
        )
        if cursors is not None:
            cursors.advance(result.lanes_sent)
        return result
