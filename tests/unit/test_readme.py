"""The README's commands work in a fresh clone, where `make run` gives `.venv/bin/waymark`
and nothing else: `uv` itself may be in .tools/ or ~/.local/bin, off the PATH."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from waymark.cli import app

ROOT = Path(__file__).parents[2]
WAYMARK = ".venv/bin/waymark"


def _commands() -> list[str]:
    """Every command line of the README's `sh` blocks, without its comment."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    lines = (line.split("#")[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line]


def test_every_command_needs_only_a_clone_after_make_run() -> None:
    commands = _commands()
    assert commands
    for command in commands:
        assert command.split()[0] in ("make", WAYMARK, "curl"), command


def test_the_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = {c.split()[1] for c in _commands() if c.startswith("make ")}
    assert {"run", "test"} <= targets
    for target in targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


@pytest.mark.parametrize("command", [c for c in _commands() if c.startswith(WAYMARK)])
def test_the_waymark_commands_and_options_exist(command: str) -> None:
    words = command.split()[1:]
    path = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        path.append(word)
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    for option in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", " ".join(words)):
        assert option in result.output, (command, option)
