"""The `waymark` command: serve (and the live gateway), work on jobs, schedule, migrate,
and manage roadmaps, accounts, keys, the outbox and the broker's dead jobs."""

from __future__ import annotations

import typer

from waymark.cli.authz import authz_app
from waymark.cli.db import db_app
from waymark.cli.jobs import jobs_app
from waymark.cli.keys import keys_app
from waymark.cli.live import live
from waymark.cli.outbox import outbox_app
from waymark.cli.progress import progress_app
from waymark.cli.roadmaps import roadmaps_app
from waymark.cli.scheduler import scheduler_app
from waymark.cli.serve import serve
from waymark.cli.users import users_app
from waymark.cli.worker import worker

app = typer.Typer(
    help="Waymark: follow learning roadmaps step by step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(live)
app.command()(worker)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(roadmaps_app, name="roadmaps")
app.add_typer(outbox_app, name="outbox")
app.add_typer(jobs_app, name="jobs")
app.add_typer(progress_app, name="progress")
app.add_typer(authz_app, name="authz")
app.add_typer(scheduler_app, name="scheduler")


def main() -> None:
    app()
