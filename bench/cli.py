"""`uv run python -m bench [--scenario NAME[,NAME]] [...]`: run the benchmarks, write the report.

`make bench` runs everything; `make bench SCENARIO=name` passes `--scenario name`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from bench.config import PROFILES, RESULTS_DIR, Profile, RunSettings
from bench.procs import Interrupted
from bench.runner import Runner
from bench.scenario import discover

OVERLOAD_CONNECTIONS = 1000


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _csv_ints(value: str) -> list[int]:
    try:
        numbers = [int(part) for part in _csv(value)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas: {value}") from exc
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError("connections must be positive")
    return numbers


def build_parser() -> argparse.ArgumentParser:
    defaults = RunSettings()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure Waymark beside framework-free limit apps and write "
        "bench/results/latest.{md,json}.",
    )
    parser.add_argument(
        "-s",
        "--scenario",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="run only these scenarios (repeatable; default: all; see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--profile",
        dest="profiles",
        type=_csv,
        default=list(defaults.profiles),
        metavar="P[,P]",
        help=f"profiles to run: {', '.join(PROFILES)} (default: both)",
    )
    parser.add_argument(
        "-c",
        "--connections",
        type=_csv_ints,
        default=None,
        metavar="N[,N]",
        help=f"connection counts (default: {','.join(map(str, defaults.connections))}; "
        f"{OVERLOAD_CONNECTIONS} with --overload)",
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=float,
        default=defaults.duration,
        help="seconds per measured run (default: %(default)s)",
    )
    parser.add_argument(
        "-w",
        "--warmup",
        type=float,
        default=defaults.warmup,
        help="seconds of unrecorded warmup per side and case (default: %(default)s)",
    )
    parser.add_argument(
        "-r",
        "--rounds",
        type=int,
        default=defaults.rounds,
        help="app/limit rounds per case, at least 3 (default: %(default)s)",
    )
    parser.add_argument(
        "-t",
        "--threads",
        type=int,
        default=defaults.threads,
        help="wrk threads, or loadgen processes with --by-status (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 3 rounds of 2 s, 1 s warmup (numbers are not reportable)",
    )
    parser.add_argument(
        "--by-status",
        action="store_true",
        help="drive load with bench/loadgen.py instead of wrk: every answer timed, latency "
        "split by status, Retry-After counted (more client CPU than wrk)",
    )
    parser.add_argument(
        "--overload",
        action="store_true",
        help=f"load shedding: {OVERLOAD_CONNECTIONS} connections (or -c) on every selected "
        "scenario, with --by-status; not part of `make bench`",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=RESULTS_DIR,
        help="report directory (default: bench/results)",
    )
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="keep the PostgreSQL database waymark_bench after the run",
    )
    parser.add_argument(
        "--waymark-cmd",
        default="",
        help="command for the waymark CLI (default: the venv's `waymark`)",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    scenarios = tuple(name for value in args.scenario for name in _csv(value))
    unknown = [p for p in args.profiles if p not in PROFILES]
    if unknown:
        raise SystemExit(f"unknown profile {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    duration, warmup, rounds = args.duration, args.warmup, args.rounds
    if args.quick:
        duration, warmup, rounds = 2.0, 1.0, 3
    if rounds < 3:
        raise SystemExit("--rounds must be at least 3")
    if not (1 <= duration <= 600 and 0 <= warmup <= 120 and 1 <= args.threads <= 16):
        raise SystemExit("duration must be 1-600 s, warmup 0-120 s, threads 1-16")
    connections = args.connections or (
        [OVERLOAD_CONNECTIONS] if args.overload else list(RunSettings().connections)
    )
    return RunSettings(
        connections=tuple(connections),
        duration=duration,
        warmup=warmup,
        rounds=rounds,
        threads=args.threads,
        scenarios=scenarios,
        profiles=tuple(cast(Profile, p) for p in args.profiles),
        waymark_cmd=tuple(shlex.split(args.waymark_cmd)),
        output_dir=args.output,
        keep_database=args.keep_database,
        quick=args.quick,
        by_status=args.by_status or args.overload,
        overload=args.overload,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for scenario in discover().values():
            print(f"{scenario.name:<18} {scenario.summary}")
            print(f"{'':<18} limit: {scenario.limit_summary} ({', '.join(scenario.profiles)})")
        return 0
    try:
        Runner(settings_from_args(args)).run()
    except (KeyboardInterrupt, Interrupted):
        return 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    return 0
