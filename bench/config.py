"""The knobs of a run, and the server settings the app and its limits share.

Everything that must be identical between Waymark and a limit app (Granian options, pool
sizes) is defined here once, so the two sides of a comparison cannot drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Profile = Literal["production", "embedded"]
PROFILES: tuple[Profile, ...] = ("production", "embedded")

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
ROADMAP_FILE = REPO_DIR / "src/waymark/features/roadmaps/data/backend.toml"

HOST = "127.0.0.1"  # every server and every request of the harness stays on loopback


@dataclass(frozen=True)
class ServerSettings:
    """How both Waymark and the limit apps are served: the same Granian, the same pool."""

    workers: int = 1
    loop: str = "uvloop"
    interface: str = "asgi"
    pool_size: int = 15
    log_level: str = "warning"

    def granian_args(self) -> list[str]:
        """Granian CLI options for a limit app, mirroring `serve()` in src/waymark/cli.py.

        That function builds `granian.server.Server(interface=ASGI, workers, loop=uvloop,
        backpressure=WAYMARK_HTTP__BACKPRESSURE (unset: Granian's default), log_enabled=True,
        log_level, respawn_failed_workers=True)`; everything else is Granian's default on both
        sides.
        """
        return [
            "--interface",
            self.interface,
            "--loop",
            self.loop,
            "--workers",
            str(self.workers),
            "--log",
            "--log-level",
            self.log_level,
            "--respawn-failed-workers",
        ]

    def waymark_env(self) -> dict[str, str]:
        """`WAYMARK_*` settings that mirror `granian_args()` and the limit apps' pool."""
        return {
            "WAYMARK_WORKERS": str(self.workers),
            "WAYMARK_LOG__LEVEL": self.log_level,
            "WAYMARK_DB__POOL_SIZE": str(self.pool_size),
            # wrk is the only client, on loopback; trusting it as a proxy lets `login` give
            # each request its own client IP (X-Forwarded-For), as a crowd of users would,
            # so the per-account-and-IP throttle does not turn the run into 429s.
            "WAYMARK_HTTP__TRUSTED_PROXIES": '["127.0.0.1/32"]',
        }


@dataclass(frozen=True)
class RunSettings:
    """One run of the harness; the defaults fit a full run in about 10 minutes on 2 cores."""

    connections: tuple[int, ...] = (64, 512)
    duration: float = 6.0
    warmup: float = 4.0
    rounds: int = 3
    threads: int = 2
    timeout: float = 5.0
    scenarios: tuple[str, ...] = ()
    profiles: tuple[Profile, ...] = PROFILES
    server: ServerSettings = field(default_factory=ServerSettings)
    postgres_url: str = field(
        default_factory=lambda: os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    """Production's Redis (sessions, refresh families, rate limits); keys of a run carry a
    prefix of their own and are deleted when it ends."""
    database_name: str = "waymark_bench"
    waymark_cmd: tuple[str, ...] = ()
    output_dir: Path = RESULTS_DIR
    keep_database: bool = False
    quick: bool = False
    by_status: bool = False
    """Drive load with `bench/loadgen.py`, which times every answer and splits latencies by
    status (for runs where the server sheds load), instead of wrk."""
    overload: bool = False
    """`--overload`: the run's connection counts (1,000 unless `-c` says otherwise) apply to
    every scenario, even one with counts of its own; implies `by_status`."""
