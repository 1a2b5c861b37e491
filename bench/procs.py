"""Processes the harness starts: launch, readiness, CPU accounting and a guaranteed stop.

Every server is started in its own session (process group whose id is the server's pid) and
registered in a `ProcessSet`; leaving the `with ProcessSet()` block, normally or through an
exception or Ctrl-C, stops each one by its pid: SIGTERM to its group, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from bench.config import HOST

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class Interrupted(Exception):
    """Raised in the main thread when the harness receives SIGTERM or SIGHUP."""


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_checked(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run a short command to completion (bounded to 5 minutes); raise with its output."""
    proc = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    return proc.stdout


@dataclass
class Server:
    """A long-running process serving HTTP on `port`."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str]
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, path: str = "/readyz", timeout: float = 60.0) -> None:
        """Poll `path` until it answers 200; raise with the log tail if it never does."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} while starting:\n"
                    f"{self.log_tail()}"
                )
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                try:
                    conn.request("GET", path)
                    status = conn.getresponse().status
                finally:
                    conn.close()
                if status == 200:
                    return
                last = f"status {status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's process group (its pid), then SIGKILL what is left."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
        # Workers that outlived their parent still carry its group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def cpu_seconds(self) -> dict[int, float]:
        """utime+stime of the server and every live descendant, by pid."""
        return process_tree_cpu(self.pid)


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat from the 3rd (state) on, or None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _read_stat(pid: int) -> tuple[int, float] | None:
    """(ppid, utime+stime seconds) of a live process, or None."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    ppid = int(fields[1])
    utime, stime = int(fields[11]), int(fields[12])
    return ppid, (utime + stime) / _CLK_TCK


def reaped_children_cpu(pids: Iterable[int]) -> float:
    """cutime+cstime of these live processes: the CPU of their children that exited and that
    they waited for (with those children's own reaped children), in seconds.

    A PostgreSQL backend that ends is reaped by the postmaster, so its whole CPU moves into
    the postmaster's cutime/cstime: the live processes of a tree plus what they reaped is
    everything the tree ever used, and its difference between two snapshots counts the
    processes that started and ended in between.
    """
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[13]) + int(fields[14])
    return total / _CLK_TCK


def parent_pid(pid: int) -> int | None:
    """The parent of a live process on this machine (same pid namespace), or None."""
    stat = _read_stat(pid)
    return stat[0] if stat else None


def process_tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds used so far by `root` and its live descendants, keyed by pid."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None:
                stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _cpu) in stats.items():
        children.setdefault(ppid, []).append(pid)
    result: dict[int, float] = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in stats and pid not in result:
            result[pid] = stats[pid][1]
            stack.extend(children.get(pid, ()))
    return result


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot, all cores, from /proc/stat.

    Busy includes interrupt and softirq time (loopback networking is largely softirq, which no
    process's utime/stime shows) and steal (time the hypervisor gave to someone else).
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / _CLK_TCK, (idle + iowait) / _CLK_TCK


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds spent between two snapshots; processes born in between count in full."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class ProcessSet:
    """Owns the servers of a run and stops all of them, by pid, however the run ends."""

    def __init__(self) -> None:
        self._servers: list[Server] = []
        self._previous: dict[int, signal.Handlers | object] = {}

    def start(self, server: Server) -> Server:
        self._servers.append(server)
        server.start()
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self._servers:
            self._servers.remove(server)

    def stop_all(self) -> None:
        while self._servers:
            self._servers.pop().stop()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    def __enter__(self) -> ProcessSet:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            self._previous[signum] = signal.signal(signum, self._on_signal)
        # Ctrl-C must stop the run even when started from a shell that ignores SIGINT.
        self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A second Ctrl-C or SIGTERM while stopping must not leave servers behind.
        for signum in self._previous:
            signal.signal(signum, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
