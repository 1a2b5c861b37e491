"""Real servers for tests: the `waymark` command in a subprocess, `waymark serve` on a free
port of 127.0.0.1 in a process group of its own (Granian's main process and its workers),
stopped with SIGTERM to that group, and SIGKILL to it if anything of it is left."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from typer.testing import CliRunner, Result

from waymark import cli


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


async def in_process(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    """`waymark ARGS` run in this process, in a thread (a subprocess costs seconds of imports
    each): for a test whose claim is not about the command itself, or that reads its output."""
    return await asyncio.to_thread(CliRunner().invoke, cli.app, list(args), stdin, env)


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
            start_new_session=True,  # its group is its own: `stop` ends every process of it
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


def stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM to the server's process group (as systemd stops a service); once its main
    process has exited, or after `timeout`, SIGKILL to whatever of the group is left (a
    Granian worker outlives its main process if killed alone)."""
    group = process.pid  # `serving` started it as the leader of its own group
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait()


def group_gone(group: int, within: float) -> bool:
    """Whether every process of the group has exited, waiting at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
