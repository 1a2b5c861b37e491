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
from bench.scenario import LoadResult, Request, Workload

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


def lua_script(requests: Sequence[Request], *, client_ip_per_request: bool = False) -> str:
    """A wrk script that cycles over `requests` and reports in JSON when done.

    With `client_ip_per_request`, every request wrk sends carries an `X-Forwarded-For` of its
    own, unique across the runs of a whole benchmark: `2001:db8:<run>:<thread>:<count>`, in
    the documentation range (RFC 3849), so a throttle keyed by client IP sees a crowd.
    """
    if not requests:
        raise ValueError("a workload needs at least one request")
    if len(requests) == 1 and not client_ip_per_request:
        # No request() function: wrk formats the request once and reuses it, its fastest path.
        (req,) = requests
        lines = [f"wrk.method = {_lua_string(req.method)}", f"wrk.path = {_lua_string(req.path)}"]
        lines += [
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in req.headers.items()
        ]
        if req.body is not None:
            lines.append(f"wrk.body = {_lua_string(req.body)}")
    else:
        lines = ["local requests = {}"]
        for req in requests:
            headers = ", ".join(
                f"[{_lua_string(k)}] = {_lua_string(v)}"
                for k, v in req.headers.items()
                if not (client_ip_per_request and k.lower() == "x-forwarded-for")
            )
            body = _lua_string(req.body) if req.body is not None else "nil"
            args = f"{_lua_string(req.method)}, {_lua_string(req.path)}, {{{headers}}}, {body}"
            if client_ip_per_request:
                lines.append(f"requests[#requests + 1] = {{{args}}}")
            else:
                lines.append(f"requests[#requests + 1] = wrk.format({args})")
        lines.append(_CYCLE)
        lines.append(_UNIQUE_IP if client_ip_per_request else _FIXED)
    pcts = ", ".join(f"'\"p{p:g}\": ' .. latency:percentile({p})" for p in PERCENTILES)
    lines.append(_DONE.replace("PERCENTILES", pcts).replace("MARK", _MARK))
    return "\n".join(lines) + "\n"


# Each thread starts at its own offset so that threads do not ask for the same URL in step,
# and counts the statuses it gets (`done()` sums them), so a run with errors says which.
# A one-request script has no such count: defining response() makes wrk hand every answer
# to Lua, which the fastest scenarios would pay for on the client side.
_CYCLE = """
local n = #requests
local threads = {}
local i = 0
statuses = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("offset", #threads * 7)
  thread:set("id", #threads)
end

function init(args)
  i = (tonumber(offset) or 0) % n
  run = tonumber(args[1]) or 0
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
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
function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    '"requests": ' .. summary.requests,
    '"duration_us": ' .. summary.duration,
    '"bytes": ' .. summary.bytes,
    '"errors": {"connect": ' .. e.connect .. ', "read": ' .. e.read .. ', "write": ' .. e.write
      .. ', "status": ' .. e.status .. ', "timeout": ' .. e.timeout .. '}',
    '"latency_us": {"min": ' .. latency.min .. ', "max": ' .. latency.max
      .. ', "mean": ' .. latency.mean .. ', "stdev": ' .. latency.stdev .. ', '
      .. table.concat({PERCENTILES}, ", ") .. '}',
  }
  if threads ~= nil and type(threads) == "table" then
    local total = {}
    for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
        total[status] = (total[status] or 0) + count
      end
    end
    local counted = {}
    for status, count in pairs(total) do
      counted[#counted + 1] = '"' .. status .. '": ' .. count
    end
    parts[#parts + 1] = '"statuses": {' .. table.concat(counted, ", ") .. '}'
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
) -> LoadResult:
    """Drive load at 127.0.0.1:`port` for `duration` seconds and return wrk's totals.

    The script gets a run number (tenths of a second since the epoch, 32 bits), so runs one
    after another never share the client IPs of `client_ip_per_request`."""
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
    )


class WrkDriver:
    """The default `Driver`: wrk with a generated Lua script per workload."""

    def __init__(self, wrk: str, workdir: Path) -> None:
        self.wrk = wrk
        self.workdir = workdir
        self._scripts: dict[int, tuple[Workload, Path]] = {}

    def script(self, workload: Workload) -> Path:
        known = self._scripts.get(id(workload))
        if known is not None and known[0] is workload:
            return known[1]
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"wrk-{len(self._scripts)}.lua"
        path.write_text(
            lua_script(workload.requests, client_ip_per_request=workload.client_ip_per_request)
        )
        self._scripts[id(workload)] = (workload, path)
        return path

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
        return run_wrk(
            self.wrk,
            self.script(workload),
            port,
            connections=connections,
            duration=duration,
            threads=threads,
            timeout=timeout,
        )
