"""`waymark roadmaps`: import, export and inspect roadmaps."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from waymark.cli.common import console, fail, load_settings, make_container, out
from waymark.features.roadmaps import coverage, document
from waymark.features.roadmaps.service import RoadmapCatalog, import_roadmap
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.kernel.errors import WaymarkError

roadmaps_app = typer.Typer(help="Import, export and inspect roadmaps.", no_args_is_help=True)


@roadmaps_app.command("import")
def roadmaps_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import or update a roadmap from a TOML or JSON file; a repeat import changes nothing."""
    try:
        spec = document.load(file)
    except WaymarkError as error:
        raise fail(error) from None
    total = sum(len(s.topics) for s in spec.sections)

    async def _run() -> None:
        # The container's outbox knows who subscribes to `roadmaps.published`.
        container = make_container(load_settings())
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"Importing {spec.slug}", total=total)
                async with container.db.transaction() as conn:
                    result = await import_roadmap(
                        conn,
                        spec,
                        now=utcnow(),
                        outbox=container.outbox,
                        progress=lambda done: progress.update(task, completed=done),
                    )
                progress.update(task, completed=total)
        finally:
            await container.aclose()
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
        db = Database(load_settings().resolved_database_url)
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
        raise fail(error) from None
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        console.print(f"Wrote {output}")


@roadmaps_app.command("list")
def roadmaps_list() -> None:
    """List the roadmaps in the database."""

    async def _run() -> None:
        db = Database(load_settings().resolved_database_url)
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
    mapping: Annotated[
        Path, typer.Option(help="Topic id -> modules and tests (shipped in the package).")
    ] = coverage.builtin_path("backend"),
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
        raise fail(error) from None
    if check:
        if not output.exists() or output.read_text() != report:
            console.print(f"{output} is stale: run `waymark roadmaps coverage`")
            raise typer.Exit(code=1)
        console.print(f"{output} is up to date")
        return
    output.write_text(report)
    console.print(f"Wrote {output}")
