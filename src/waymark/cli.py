"""The `waymark` command: serve, migrate, and manage roadmaps."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from waymark.container import Container
from waymark.features.roadmaps import coverage, document
from waymark.features.roadmaps.service import RoadmapCatalog, import_roadmap
from waymark.infra.maintenance import PruneDeliveredMessages
from waymark.infra.observability.logging import configure_logging
from waymark.infra.observability.metrics import use_multiprocess_directory
from waymark.infra.outbox import DEAD, PENDING, Outbox
from waymark.infra.outbox.outbox import Tally
from waymark.infra.outbox.tables import STATES
from waymark.infra.security.signing_keys import KeyRing
from waymark.infra.sql import migrations
from waymark.infra.sql.database import Database
from waymark.infra.sql.urls import redact
from waymark.kernel.clock import utcnow
from waymark.kernel.email_address import normalize_email
from waymark.kernel.errors import Conflict, NotFound, WaymarkError
from waymark.settings import Settings

app = typer.Typer(
    help="Waymark: follow learning roadmaps step by step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
roadmaps_app = typer.Typer(help="Import, export and inspect roadmaps.", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Access-token signing keys.", no_args_is_help=True)
outbox_app = typer.Typer(
    help="The outbox of mail and jobs: inspect it, prune it, retry dead messages.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(roadmaps_app, name="roadmaps")
app.add_typer(outbox_app, name="outbox")

# soft_wrap: a message is one line however narrow the terminal or log (no breaks inside URLs).
console = Console(stderr=True, soft_wrap=True)
out = Console()


# Granian's loggers hand their records to the root logger, which renders them like ours.
_GRANIAN_LOGS_TO_ROOT = {
    "formatters": {},
    "handlers": {},
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    },
}


def _settings() -> Settings:
    return Settings()


def _fail(error: WaymarkError) -> typer.Exit:
    console.print(f"[red]error[/red] ({error.code}): {error.detail or error.title}")
    for field_error in getattr(error, "errors", None) or []:
        console.print(f"  [bold]{field_error.field}[/bold]: {field_error.message}")
    return typer.Exit(code=2)


def _email_argument(email: str) -> str:
    """EMAIL in the canonical form the API would store, or exit 2 saying what is wrong."""
    try:
        return normalize_email(email)
    except WaymarkError as error:
        raise _fail(error) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides WAYMARK_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides WAYMARK_PORT.")] = None,
    workers: Annotated[int | None, typer.Option(help="Overrides WAYMARK_WORKERS.")] = None,
) -> None:
    """Serve the HTTP API with Granian."""
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    settings = _settings()
    refusals = settings.production_refusals()
    if refusals:
        console.print("[red]error[/red] (unsafe-settings): refusing to start in production:")
        for refusal in refusals:
            console.print(f"  - {refusal}", highlight=False)
        raise typer.Exit(code=2)
    host, port = host or settings.host, port if port is not None else settings.port
    workers = workers or settings.workers
    if workers > 1:
        # Every worker writes its metrics here; /metrics aggregates them.
        metrics_dir = settings.var_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        use_multiprocess_directory(metrics_dir.resolve())
    try:
        _refuse_a_port_in_use(host, port)
    except WaymarkError as error:
        raise _fail(error) from None
    configure_logging(settings.log)  # Granian's own lines, in this process, as JSON too
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    console.print(
        f"Waymark serving on {base} (API docs: {base}/schema/docs; Ctrl-C stops it)\n"
        f"  {settings.profile} profile, {redact(settings.resolved_database_url)}, "
        f"{workers} worker(s)",
        highlight=False,
    )
    Server(
        "waymark.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
        backpressure=settings.http.backpressure,
        log_enabled=True,
        log_level=LogLevels(settings.log.level),
        log_dictconfig=_GRANIAN_LOGS_TO_ROOT,
        respawn_failed_workers=True,
    ).serve()


def _refuse_a_port_in_use(host: str, port: int) -> None:
    """Raise `Conflict` if something already listens on host:port.

    Granian's workers share their port through SO_REUSEPORT, which lets a second server bind
    it too: the kernel then splits connections between the two, and nobody is told. A bind
    without SO_REUSEPORT fails while anything listens there, so one is tried first (with
    SO_REUSEADDR, which on POSIX only forgives connections of a stopped server in TIME_WAIT).
    Other failures (no such address, a privileged port) are left for Granian to report.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        return
    with socket.socket(family, kind, proto) as probe:
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"{host}:{port} is already in use: another server (a Waymark started "
                    "earlier?) listens there. Stop it, or serve on another port with --port "
                    "or WAYMARK_PORT."
                ) from None


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    url = _settings().resolved_database_url
    with console.status(f"Migrating {redact(url)} to {revision}"):
        migrations.upgrade(url, revision)
    console.print(f"Database at {migrations.current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Migrate the database down to REVISION."""
    url = _settings().resolved_database_url
    with console.status(f"Migrating {redact(url)} down to {revision}"):
        migrations.downgrade(url, revision)
    console.print(f"Database at {migrations.current_revision(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the latest one."""
    url = _settings().resolved_database_url
    current, head = migrations.current_revision(url), migrations.head_revision()
    out.print(f"current: {current or 'base (empty)'}\nhead:    {head}")
    if current != head:
        raise typer.Exit(code=1)


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Write a new migration from the difference between the tables and the database."""
    migrations.revision(_settings().resolved_database_url, message)


@roadmaps_app.command("import")
def roadmaps_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import or update a roadmap from a TOML or JSON file; a repeat import changes nothing."""
    try:
        spec = document.load(file)
    except WaymarkError as error:
        raise _fail(error) from None
    total = sum(len(s.topics) for s in spec.sections)

    async def _run() -> None:
        db = Database(_settings().resolved_database_url)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"Importing {spec.slug}", total=total)
                async with db.transaction() as conn:
                    result = await import_roadmap(
                        conn,
                        spec,
                        now=utcnow(),
                        progress=lambda done: progress.update(task, completed=done),
                    )
                progress.update(task, completed=total)
        finally:
            await db.dispose()
        if result.changed:
            out.print(
                f"{result.slug}: version {result.version}, {result.sections} sections, "
                f"{result.topics} topics ({result.retired_topics} retired)"
            )
        else:
            out.print(f"{result.slug}: unchanged at version {result.version}")

    asyncio.run(_run())


@roadmaps_app.command("export")
def roadmaps_export(
    slug: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Default: stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="toml or json")] = "toml",
) -> None:
    """Write a roadmap's current version as a file `import` accepts."""

    async def _run() -> bytes:
        db = Database(_settings().resolved_database_url)
        try:
            spec = await RoadmapCatalog(db, cache_seconds=0).export(slug)
        finally:
            await db.dispose()
        if fmt == "json":
            return msgspec.json.format(msgspec.json.encode(spec), indent=2) + b"\n"
        return document.to_toml(spec).encode()

    if fmt not in ("toml", "json"):
        raise typer.BadParameter("use toml or json", param_hint="--format")
    try:
        data = asyncio.run(_run())
    except WaymarkError as error:
        raise _fail(error) from None
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        console.print(f"Wrote {output}")


@roadmaps_app.command("list")
def roadmaps_list() -> None:
    """List the roadmaps in the database."""

    async def _run() -> None:
        db = Database(_settings().resolved_database_url)
        try:
            catalog = RoadmapCatalog(db, cache_seconds=0)
            table = Table("slug", "title", "version", "sections", "topics", "updated")
            cursor: str | None = None
            while True:
                page = await catalog.list_roadmaps(limit=100, cursor=cursor)
                for r in page.items:
                    table.add_row(
                        r.slug,
                        r.title,
                        str(r.version),
                        str(r.section_count),
                        str(r.topic_count),
                        r.updated_at.isoformat(timespec="seconds"),
                    )
                if not (cursor := page.next_cursor):
                    break
            out.print(table)
        finally:
            await db.dispose()

    asyncio.run(_run())


@roadmaps_app.command("coverage")
def roadmaps_coverage(
    mapping: Annotated[Path, typer.Option(help="Topic id -> modules and tests.")] = Path(
        "docs/roadmap-coverage.toml"
    ),
    output: Annotated[Path, typer.Option("-o", "--output")] = Path("docs/roadmap-coverage.md"),
    roadmap: Annotated[Path, typer.Option(help="The roadmap file.")] = document.builtin_path(
        "backend"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Fail if OUTPUT is not what would be written.")
    ] = False,
) -> None:
    """Write docs/roadmap-coverage.md: each roadmap topic, what implements it, what proves it."""
    try:
        report = coverage.render(document.load(roadmap), coverage.load(mapping), root=Path.cwd())
    except WaymarkError as error:
        raise _fail(error) from None
    if check:
        if not output.exists() or output.read_text() != report:
            console.print(f"{output} is stale: run `waymark roadmaps coverage`")
            raise typer.Exit(code=1)
        console.print(f"{output} is up to date")
        return
    output.write_text(report)
    console.print(f"Wrote {output}")


@users_app.command("create")
def users_create(
    email: str,
    display_name: Annotated[str, typer.Option(help="Shown in the app.")] = "",
    verified: Annotated[
        bool, typer.Option(help="Mark the address confirmed (no mail is sent).")
    ] = True,
) -> None:
    """Create an account. The password is read from standard input, or asked for."""
    email = _email_argument(email)
    password = (
        sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty()
        else typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    )

    async def _run() -> None:
        container = Container(_settings())
        try:
            user_id = await container.accounts.registration.create(
                email=email, password=password, display_name=display_name, verified=verified
            )
        finally:
            await container.aclose()
        if user_id is None:
            console.print(f"[red]error[/red] (conflict): {email} already has an account")
            raise typer.Exit(code=2)
        out.print(f"{user_id}")

    try:
        asyncio.run(_run())
    except WaymarkError as error:
        raise _fail(error) from None


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: its logins, sessions and access tokens stop working at once."""
    email = _email_argument(email)

    async def _run() -> None:
        container = Container(_settings())
        try:
            account_id = await container.accounts.profiles.disable(email)
            if account_id is None:
                console.print(f"[red]error[/red] (not-found): no account {email}")
                raise typer.Exit(code=2)
            ended = await container.auth.sessions.end_all(account_id)
        finally:
            await container.aclose()
        out.print(f"{email} disabled; {ended} session(s) ended")

    asyncio.run(_run())


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Start signing access tokens with a new key. The previous key keeps verifying for
    WAYMARK_AUTH__SIGNING_KEY_RETENTION seconds; running servers pick the new key up within
    seconds."""
    settings = _settings()
    path = settings.signing_keys_path
    ring = KeyRing.open(path, now=time.time(), retain_for=settings.auth.signing_key_retention)
    new = ring.rotate(now=time.time())
    out.print(f"signing with {new.kid}; {len(ring.keys)} key(s) in {path}")


T = TypeVar("T")


def _with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` on the configured database, disposed of afterwards."""

    async def _run() -> T:
        db = Database(_settings().resolved_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(_run())


@outbox_app.command("stats")
def outbox_stats() -> None:
    """Messages per state and kind, and how long the oldest pending one has waited."""

    async def _tally(db: Database) -> Tally:
        async with db.read() as conn:
            return await Outbox.tally(conn, by_kind=True)

    tally = _with_database(_tally)
    now = utcnow()
    for state in STATES:
        out.print(f"{state}: {tally.count(state)}")
    oldest = tally.oldest(PENDING)
    if oldest is None:
        out.print("oldest pending: none")
    else:
        age = timedelta(seconds=round((now - oldest).total_seconds()))
        out.print(f"oldest pending: {age} old (created {oldest.isoformat(timespec='seconds')})")
    if tally.kinds:
        table = Table("kind", *(Column(state, justify="right") for state in STATES))
        for kind in tally.kinds:
            table.add_row(kind, *(str(tally.count(state, kind)) for state in STATES))
        out.print(table)


@outbox_app.command("prune")
def outbox_prune(
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0,
            metavar="DAYS",
            help="Delete messages delivered more than DAYS ago. "
            "Default: WAYMARK_MAINTENANCE__OUTBOX_RETENTION_DAYS.",
        ),
    ] = None,
) -> None:
    """Delete delivered messages (as the servers' maintenance does); dead ones stay."""
    days = _settings().maintenance.outbox_retention_days if older_than is None else older_than

    async def _prune(db: Database) -> int:
        prune = PruneDeliveredMessages(db, retention=timedelta(days=days), budget_seconds=None)
        return await prune(utcnow())

    removed = _with_database(_prune)
    out.print(f"deleted {removed} message(s) delivered more than {days:g} day(s) ago")


@outbox_app.command("retry-dead")
def outbox_retry_dead(
    message_ids: Annotated[
        list[str] | None, typer.Argument(metavar="ID", help="Dead messages to retry.")
    ] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Retry every dead message.")] = False,
) -> None:
    """Put dead messages back in line with a fresh set of attempts: all the IDs given, or
    none if one is not a dead message (exit 2, naming it)."""
    if bool(message_ids) == retry_all:
        raise typer.BadParameter("give the ids of dead messages, or --all (not both)")
    wanted = list(dict.fromkeys(message_ids or ()))

    async def _retry(db: Database) -> int:
        now = utcnow()
        async with db.transaction() as conn:
            if retry_all:
                return await Outbox.retry_all_dead(conn, now=now)
            missing = [i for i in wanted if not await Outbox.retry_dead(conn, i, now=now)]
            if missing:  # raising rolls back those that were dead: all or nothing
                raise NotFound(f"no {DEAD} message {', '.join(missing)}; nothing retried")
            return len(wanted)

    try:
        retried = _with_database(_retry)
    except WaymarkError as error:
        raise _fail(error) from None
    out.print(f"{retried} dead message(s) back in line")


def main() -> None:
    app()
