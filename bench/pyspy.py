"""Profile one scenario under load with py-spy: where does the app's CPU go?

    uv run python -m bench.pyspy topic-get [--profile production] [-c 64] [-d 20] [--limit]

Starts the same stack as a run (database, Waymark, and with --limit the limit app instead),
drives the scenario's load with wrk, and records the server's Python stacks with py-spy
(`py-spy` on PATH, else `uvx py-spy`: nothing is added to the project). Writes
`bench/results/profiles/<scenario>-<profile>-<side>.txt` (collapsed stacks: open them in
speedscope or feed them to flamegraph.pl) and `….md`, the top functions and the CPU share of
each package, and prints the latter.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import cast

from bench.config import PROFILES, RESULTS_DIR, Profile, RunSettings
from bench.procs import Interrupted, ProcessSet
from bench.runner import select_scenarios
from bench.scenario import AppContext
from bench.stack import database, start_limit, start_waymark
from bench.wrk import WrkDriver, ensure_wrk


def py_spy_command() -> list[str]:
    found = shutil.which("py-spy")
    if found:
        return [found]
    uvx = shutil.which("uvx")
    if uvx:
        return [uvx, "py-spy"]
    raise RuntimeError("py-spy not found: install uv (for uvx) or put py-spy on PATH")


def package_of(frame: str) -> str:
    """The package a `function (path)` frame belongs to, for the per-package summary."""
    _, _, location = frame.rpartition(" (")
    path = location.rstrip(")")
    if not path or "/" not in path:
        return "<native>" if path.endswith((".so", ".c", ".rs")) or not path else path
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/src/waymark/" in path:
        return "waymark." + path.split("/src/waymark/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/bench/" in path:
        return "bench"
    if "/lib/python3" in path:
        return "stdlib:" + path.rsplit("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    return path


def short(frame: str) -> str:
    """`function (path)` with the path cut to what follows site-packages/, src/ or lib/."""
    name, _, location = frame.rpartition(" (")
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/"):
        if marker in location:
            location = location.split(marker, 1)[1]
            break
    return f"{name} ({location}" if name else frame


_TRUNK = (
    "granian/server/",
    "granian/cli.py",
    "multiprocessing/",
    "typer/",
    "click/",
    "waymark/cli.py",
    "bin/",
)


def _trunk(frame: str) -> bool:
    """Process start-up frames on every stack: they say nothing about where time goes."""
    return frame.startswith("<module> ") or any(part in frame for part in _TRUNK)


def idle(frames: list[str]) -> bool:
    """A thread-pool thread waiting for work: `_worker` blocked in its queue's C `get`, which
    py-spy at times takes for a busy thread (a run of progress-get counted 28 % of the
    worker's samples there; with --native the same stacks end in PyThread_acquire_lock_timed).
    `_worker` runs its work through `_WorkItem.run`, so as the last frame it only waits."""
    return frames[-1].startswith("_worker (") and "concurrent/futures/thread.py" in frames[-1]


def worker_stacks(raw: str) -> list[tuple[list[str], int]]:
    """(frames, count) of the worker processes: the deepest ones in py-spy's process tree;
    idle thread-pool threads left out (`idle`).

    With --subprocesses each stack starts with one `process PID:cmdline` frame per level;
    Granian's supervisor (one level) only waits, its workers (one level deeper) serve.
    """
    parsed: list[tuple[int, list[str], int]] = []
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        depth = sum(1 for f in frames if f.startswith("process "))
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if frames and not idle(frames):
            parsed.append((depth, frames, int(count_text)))
    deepest = max((depth for depth, _, _ in parsed), default=0)
    return [(frames, count) for depth, frames, count in parsed if depth == deepest]


def summarize(raw: str) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Samples, self counts by function, inclusive counts by function, self counts by package."""
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in worker_stacks(raw):
        total += count
        own[short(frames[-1])] += count
        packages[package_of(frames[-1])] += count
        for frame in {short(f) for f in frames}:
            inclusive[frame] += count
    return total, own, inclusive, packages


def render(title: str, raw: str, top: int = 25) -> str:
    total, own, inclusive, packages = summarize(raw)
    if not total:
        return f"# {title}\n\nNo samples.\n"

    def pct(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    branches = [(name, n) for name, n in inclusive.most_common() if not _trunk(name)][:top]
    out = [
        f"# {title}",
        "",
        f"{total} samples of the worker's busy Python threads (thread-pool threads waiting for "
        "work left out). Time in native code (Granian's Rust side, C extensions, system calls) "
        "is counted in the Python frame that called it.",
        "",
    ]
    out += ["## Self time by package", "", "| package | self |", "|---|---:|"]
    out += [f"| {name} | {pct(n)} |" for name, n in packages.most_common(top)]
    out += ["", "## Top functions, self time", "", "| function | self |", "|---|---:|"]
    out += [f"| `{name}` | {pct(n)} |" for name, n in own.most_common(top)]
    out += ["", "## Top functions, inclusive", "", "| function | incl. |", "|---|---:|"]
    out += [f"| `{name}` | {pct(n)} |" for name, n in branches]
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.pyspy", description=__doc__)
    parser.add_argument("scenario")
    parser.add_argument("--profile", choices=PROFILES, default="production")
    parser.add_argument("-c", "--connections", type=int, default=64)
    parser.add_argument("-d", "--duration", type=int, default=20, help="seconds to record")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--limit", action="store_true", help="profile the limit app instead")
    parser.add_argument("--native", action="store_true", help="include native (C/Rust) frames")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS_DIR / "profiles")
    parser.add_argument("--waymark-cmd", default="", help="command for the waymark CLI")
    return parser


def profile(args: argparse.Namespace) -> Path:
    profile_name = cast(Profile, args.profile)
    settings = RunSettings(
        scenarios=(args.scenario,),
        profiles=(profile_name,),
        waymark_cmd=tuple(shlex.split(args.waymark_cmd)),
    )
    (scenario,) = select_scenarios(settings)
    if profile_name not in scenario.profiles:
        raise SystemExit(f"{scenario.name} does not run on the {profile_name} profile")
    wrk = ensure_wrk()
    spy = py_spy_command()
    side = "limit" if args.limit else "app"
    stem = f"{scenario.name}-{profile_name}-{side}"
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    raw_path, md_path = output / f"{stem}.txt", output / f"{stem}.md"
    with (
        tempfile.TemporaryDirectory(prefix="waymark-pyspy-") as tmp,
        ProcessSet() as procs,
        ExitStack() as stack,
    ):
        workdir = Path(tmp)
        db = stack.enter_context(database(settings, profile_name, workdir))
        app = start_waymark(procs, settings, db, workdir)
        stack.callback(procs.stop, app)
        workload = scenario.prepare(
            AppContext(
                profile_name,
                app.port,
                db.url,
                settings.server,
                workdir,
                redis_url=db.redis_url,
                redis_prefix=db.redis_prefix,
            )
        )
        driver = scenario.driver or WrkDriver(wrk, workdir)
        target = app
        if args.limit:
            config = workdir / "limit.json"
            config.write_text(json.dumps(dict(workload.limit_config)))
            target = start_limit(
                procs,
                settings,
                name=f"{stem}",
                target=scenario.limit_app,
                config_path=config,
                workdir=workdir,
            )

        def drive(duration: float) -> None:
            driver(
                target.port,
                workload,
                connections=args.connections,
                duration=duration,
                threads=settings.threads,
                timeout=settings.timeout,
            )

        print(f"warming up {target.name} ({args.connections} connections)")
        drive(5)
        print(f"recording {target.name} (pid {target.pid}) for {args.duration}s with py-spy")
        loader = threading.Thread(target=drive, args=(args.duration + 4,), daemon=True)
        loader.start()
        argv = [
            *spy,
            "record",
            "--pid",
            str(target.pid),
            "--subprocesses",
            "--format",
            "raw",
            "--full-filenames",
            "--nolineno",
            "--rate",
            str(args.rate),
            "--duration",
            str(args.duration),
            "--output",
            str(raw_path),
        ]
        if args.native:
            argv.append("--native")
        rec = subprocess.run(
            argv, capture_output=True, text=True, timeout=args.duration + 120, check=False
        )
        loader.join(timeout=args.duration + 70)
        if rec.returncode != 0 or not raw_path.exists():
            raise RuntimeError(f"py-spy failed ({rec.returncode}): {rec.stderr[-2000:]}")
    title = f"py-spy: {scenario.name} ({profile_name}, {side}, {args.connections} connections)"
    md_path.write_text(render(title, raw_path.read_text()))
    return md_path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        md = profile(args)
    except (KeyboardInterrupt, Interrupted):
        return 130
    except RuntimeError as exc:
        print(f"profiling failed: {exc}", file=sys.stderr)
        return 1
    print(md.read_text())
    print(f"written: {md} and {md.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
