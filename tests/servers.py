"""Real servers for tests: the `waymark` command in a subprocess, `waymark serve` on a free
port of 127.0.0.1, stopped with SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def waymark(
    env: dict[str, str], *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`waymark *args`, with `stdin` as its standard input (a password, say)."""
    return subprocess.run(
        [sys.executable, "-m", "waymark", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


class Served(NamedTuple):
    base: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


@contextmanager
def serving(
    env: dict[str, str],
    log: Path,
    *args: str,
    stderr: Path | None = None,
    port: int | None = None,
    command: str = "serve",
) -> Iterator[Served]:
    """`waymark serve` (or another serving `command`: `live`, the gateway) on `port`
    (default: a free one), once `/readyz` answers 200; stopped with SIGTERM. Its stdout
    goes to `log`, and so does its stderr unless `stderr` names another file."""
    port = port or free_port()
    # Files, not pipes: readable while it runs, never full.
    with log.open("wb") as sink, (stderr or log).open("ab") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "waymark", command, "--port", str(port), *args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT if stderr is None else errors,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        else:
            pytest.fail(f"waymark {command} did not become ready in 30 s")
        yield Served(base, port, process, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
