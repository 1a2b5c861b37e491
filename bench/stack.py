"""Starting what a run measures: a database per profile, Waymark, and the limit apps."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.config import HOST, REPO_DIR, ROADMAP_FILE, Profile, RunSettings, ServerSettings
from bench.procs import ProcessSet, Server, free_port, parent_pid, run_checked


@dataclass(frozen=True)
class Database:
    profile: Profile
    url: str
    """SQLAlchemy URL as Waymark takes it."""
    server_version: str | None = None
    server_pid: int | None = None
    """PostgreSQL's postmaster, whose process tree's CPU is recorded as database CPU."""
    redis_url: str | None = None
    """Production only: the Redis Waymark keeps sessions, families and rate limits in."""
    redis_prefix: str = ""
    redis_version: str | None = None
    admin_url: str | None = None
    """PostgreSQL only: the maintenance database the harness reads statistics through."""
    name: str | None = None
    """PostgreSQL only: the bench database's name."""


async def _redis_info(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=5)
    try:
        return str((await client.info("server"))["redis_version"])
    finally:
        await client.aclose()


async def _delete_redis_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=5)
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(batch), 1000):
            await client.delete(*batch[start : start + 1000])
    finally:
        await client.aclose()


@contextmanager
def redis(settings: RunSettings) -> Iterator[tuple[str, str, str]]:
    """(url, key prefix, version) of the production Redis; the run's keys go afterwards."""
    _check_loopback(settings.redis_url)
    try:
        version = asyncio.run(_redis_info(settings.redis_url))
    except Exception as exc:
        raise RuntimeError(
            f"cannot reach Redis at {settings.redis_url} for the production profile "
            f"(set BENCH_REDIS_URL=redis://127.0.0.1:6379/0): {type(exc).__name__}: {exc}"
        ) from exc
    prefix = f"waymark-bench:{os.getpid()}:"
    try:
        yield settings.redis_url, prefix, version
    finally:
        asyncio.run(_delete_redis_keys(settings.redis_url, prefix))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (None, "", "localhost", "::1") and not str(host).startswith("127."):
        raise ValueError(f"the harness only talks to the loopback; {host!r} is not")


async def _recreate_database(
    admin_url: str, name: str, drop_only: bool = False
) -> tuple[str, int | None]:
    """Drop and (unless `drop_only`) create database `name`; the server's version and pid."""
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        backend_pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await conn.execute(f'CREATE DATABASE "{name}"')
        return version, parent_pid(backend_pid)
    finally:
        await conn.close()


def _admin_urls(settings: RunSettings) -> list[str]:
    """The configured maintenance URL; with the default one, also user `root` (trust auth)."""
    urls = [settings.postgres_url]
    if "BENCH_POSTGRES_URL" not in os.environ:
        urls.append(settings.postgres_url.replace("//postgres@", "//root@", 1))
    return urls


@contextmanager
def database(settings: RunSettings, profile: Profile, workdir: Path) -> Iterator[Database]:
    """A fresh, empty database for `profile`, removed afterwards (unless --keep-database)."""
    if profile == "embedded":
        path = workdir / "embedded" / "waymark.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        yield Database(profile, f"sqlite+aiosqlite:///{path}")
        return
    name = settings.database_name
    errors: list[str] = []
    for admin_url in _admin_urls(settings):
        _check_loopback(admin_url)
        try:
            version, server_pid = asyncio.run(_recreate_database(admin_url, name))
        except (OSError, ValueError) as exc:  # includes asyncpg's connection errors
            errors.append(f"{admin_url}: {exc}")
            continue
        except Exception as exc:  # asyncpg.PostgresError and friends
            errors.append(f"{admin_url}: {type(exc).__name__}: {exc}")
            continue
        app_url = _with_database(admin_url, name).replace("postgresql://", "postgresql+asyncpg://")
        try:
            with redis(settings) as (redis_url, prefix, redis_version):
                yield Database(
                    profile,
                    app_url,
                    version,
                    server_pid,
                    redis_url,
                    prefix,
                    redis_version,
                    admin_url=admin_url,
                    name=name,
                )
        finally:
            if not settings.keep_database:
                asyncio.run(_recreate_database(admin_url, name, drop_only=True))
        return
    raise RuntimeError(
        "cannot reach PostgreSQL to create the benchmark database "
        "(set BENCH_POSTGRES_URL=postgresql://user@127.0.0.1:5432/postgres):\n" + "\n".join(errors)
    )


def waymark_command(settings: RunSettings) -> list[str]:
    """How to call the `waymark` CLI: as configured, from this venv, or through uv."""
    if settings.waymark_cmd:
        return list(settings.waymark_cmd)
    local = Path(sys.executable).parent / "waymark"
    if local.exists():
        return [str(local)]
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("neither the venv's `waymark` nor `uv` was found")
    return [uv, "run", "waymark"]


def waymark_env(server: ServerSettings, db: Database, port: int, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(server.waymark_env())
    env.update(
        {
            "WAYMARK_HOST": HOST,
            "WAYMARK_PORT": str(port),
            "WAYMARK_DATABASE_URL": db.url,
            "WAYMARK_VAR_DIR": str(workdir / "var"),
        }
    )
    if db.redis_url:
        env["WAYMARK_REDIS_URL"] = db.redis_url
        env["WAYMARK_REDIS__KEY_PREFIX"] = db.redis_prefix
    else:
        env.pop("WAYMARK_REDIS_URL", None)
    return env


_SENSITIVE = ("SECRET", "KEY", "PASSWORD", "TOKEN", "URL", "DSN", "CREDENTIAL")


def extra_waymark_env() -> dict[str, str]:
    """`WAYMARK_*` variables the caller set, passed through unchanged; for the report, so
    values that may hold a secret are masked."""
    return {
        k: "***" if any(word in k.upper() for word in _SENSITIVE) else v
        for k, v in os.environ.items()
        if k.startswith("WAYMARK_")
    }


def start_waymark(procs: ProcessSet, settings: RunSettings, db: Database, workdir: Path) -> Server:
    """Migrate, import the roadmap, then serve; returns once `/readyz` answers 200."""
    cmd = waymark_command(settings)
    port = free_port()
    env = waymark_env(settings.server, db, port, workdir)
    run_checked([*cmd, "db", "upgrade"], env=env, cwd=REPO_DIR)
    run_checked([*cmd, "roadmaps", "import", str(ROADMAP_FILE)], env=env, cwd=REPO_DIR)
    return _start_ready(procs, settings, env, f"waymark ({db.profile})", [*cmd, "serve"], port)


def start_live_gateway(
    procs: ProcessSet, settings: RunSettings, db: Database, workdir: Path
) -> Server:
    """`waymark live` (the WebSocket gateway) beside a Waymark started by `start_waymark`,
    on the same database and Redis; returns once its `/readyz` answers 200."""
    port = free_port()
    env = waymark_env(settings.server, db, port, workdir)
    argv = [*waymark_command(settings), "live", "--port", str(port)]
    return _start_ready(procs, settings, env, f"waymark live ({db.profile})", argv, port)


def _start_ready(
    procs: ProcessSet,
    settings: RunSettings,
    env: dict[str, str],
    name: str,
    argv: list[str],
    port: int,
) -> Server:
    log = name.replace(" (", "-").rstrip(")").replace(" ", "-")
    server = Server(
        name=name,
        argv=argv,
        port=port,
        log_path=settings.output_dir / "logs" / f"{log}.log",
        env=env,
        cwd=REPO_DIR,
    )
    procs.start(server)
    server.wait_ready("/readyz", timeout=90)
    return server


def granian_command() -> list[str]:
    local = Path(sys.executable).parent / "granian"
    return [str(local)] if local.exists() else [sys.executable, "-m", "granian"]


def start_limit(
    procs: ProcessSet,
    settings: RunSettings,
    *,
    name: str,
    target: str,
    config_path: Path,
    workdir: Path,
    extra_args: Sequence[str] = (),
) -> Server:
    """Serve the ASGI callable `target` with the same Granian options as Waymark (and
    `extra_args`, for an option the app is given through its settings)."""
    port = free_port()
    env = dict(os.environ)
    env["BENCH_LIMIT_CONFIG"] = str(config_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_DIR), env.get("PYTHONPATH")]))
    server = Server(
        name=f"limit {name}",
        argv=[
            *granian_command(),
            *settings.server.granian_args(),
            *extra_args,
            "--host",
            HOST,
            "--port",
            str(port),
            target,
        ],
        port=port,
        log_path=settings.output_dir / "logs" / f"limit-{name}.log",
        env=env,
        cwd=REPO_DIR,
    )
    procs.start(server)
    server.wait_ready("/readyz", timeout=60)
    return server
