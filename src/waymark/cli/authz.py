"""`waymark authz`: the permissions the code enforces."""

from __future__ import annotations

from typing import Annotated

import msgspec
import typer

from waymark.cli.common import out
from waymark.kernel.authz import matrix, matrix_markdown

authz_app = typer.Typer(help="Roles and permissions.", no_args_is_help=True)


@authz_app.command("matrix")
def authz_matrix(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="As docs/permissions.md (default: JSON).")
    ] = False,
) -> None:
    """Print the role-by-action tables and the attribute rules."""
    if markdown:
        print(matrix_markdown(), end="")
    else:
        out.print_json(msgspec.json.encode(matrix()).decode())
