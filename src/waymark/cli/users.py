"""`waymark users`: accounts, by an operator."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import Annotated

import typer

from waymark.cli.common import console, email_argument, fail, load_settings, make_container, out
from waymark.kernel.authz import PlatformRole
from waymark.kernel.errors import WaymarkError

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    email: str,
    display_name: Annotated[str, typer.Option(help="Shown in the app.")] = "",
    verified: Annotated[
        bool, typer.Option(help="Mark the address confirmed (no mail is sent).")
    ] = True,
) -> None:
    """Create an account. The password is read from standard input, or asked for."""
    email = email_argument(email)
    password = (
        sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty()
        else typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    )

    async def _run() -> None:
        container = make_container(load_settings())
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
        raise fail(error) from None


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: its logins, sessions and access tokens stop working at once."""
    email = email_argument(email)

    async def _run() -> None:
        container = make_container(load_settings())
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


RoleArgument = Annotated[
    PlatformRole, typer.Argument(help="learner, editor or admin (docs/permissions.md).")
]


@users_app.command("grant")
def users_grant(email: str, role: RoleArgument) -> None:
    """Give an account a platform role (audited); it counts from its next request."""
    _set_role(email_argument(email), role, unless=None)


@users_app.command("revoke")
def users_revoke(email: str, role: RoleArgument) -> None:
    """Take a platform role back (the account is a learner again; audited)."""
    if role == PlatformRole.LEARNER:
        raise typer.BadParameter("every account is at least a learner", param_hint="ROLE")
    _set_role(email_argument(email), PlatformRole.LEARNER, unless=role)


def _set_role(email: str, role: PlatformRole, *, unless: PlatformRole | None) -> None:
    async def _run() -> PlatformRole | None:
        container = make_container(load_settings())
        try:
            return await container.accounts.administration.set_role_by_email(
                email, role, unless=unless, by=f"operator:{getpass.getuser()}"
            )
        finally:
            await container.aclose()

    try:
        had = asyncio.run(_run())
    except WaymarkError as error:
        raise fail(error) from None
    if had is None:
        console.print(f"[red]error[/red] (not-found): no account {email}")
        raise typer.Exit(code=2)
    out.print(f"{email}: {had} -> {role}" if had != role else f"{email} is already {role}")
