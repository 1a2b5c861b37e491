"""`waymark roadmaps coverage --check` refuses a coverage map that claims more than exists."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from waymark.cli import app

ROADMAP = {
    "slug": "tiny",
    "title": "Tiny",
    "sections": [
        {
            "id": "one",
            "title": "One",
            "topics": [{"id": "one.a", "title": "A"}, {"id": "one.b", "title": "B"}],
        }
    ],
}
TEST_FILE = """
def test_one():
    pass


class TestGroup:
    async def test_member(self):
        pass
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with one module, one test file and a conftest; the command runs in it."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "feature.py").write_text("")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_feature.py").write_text(TEST_FILE)
    (tmp_path / "tests" / "conftest.py").write_text("")
    (tmp_path / "roadmap.json").write_bytes(msgspec.json.encode(ROADMAP))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def row(status: str, tests: list[str], modules: tuple[str, ...] = ("src/feature.py",)) -> str:
    return (
        f'[topics."one.a"]\nstatus = "{status}"\nsummary = "s"\n'
        f"modules = {list(modules)!r}\ntests = {tests!r}\n".replace("'", '"')
        + 'verified_against = "SQLite"\n'
    )


def coverage(project: Path, mapping: str, *, check: bool) -> tuple[int, str]:
    (project / "coverage.toml").write_text(mapping)
    args = ["roadmaps", "coverage", "--mapping", "coverage.toml", "--roadmap", "roadmap.json"]
    result = CliRunner().invoke(app, [*args, "-o", "coverage.md", *(["--check"] if check else [])])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "tests",
    [
        ["tests/unit/test_feature.py"],
        ["tests/unit/test_feature.py::test_one"],
        ["tests/unit/test_feature.py::test_one[sqlite]", "tests/conftest.py"],
        ["tests/unit/test_feature.py::TestGroup::test_member"],
        ["tests/"],
    ],
)
def test_rows_citing_tests_that_exist_pass(project: Path, tests: list[str]) -> None:
    mapping = row("done", tests)
    assert coverage(project, mapping, check=False)[0] == 0
    assert coverage(project, mapping, check=True) == (0, "coverage.md is up to date\n")


@pytest.mark.parametrize(
    ("status", "tests", "modules", "complaint"),
    [
        (
            "done",
            ["tests/unit/test_gone.py"],
            ("src/feature.py",),
            "tests/unit/test_gone.py does not exist",
        ),
        ("partial", ["tests/unit/test_feature.py"], ("src/gone.py",), "src/gone.py does not exist"),
        (
            "done",
            ["tests/unit/test_feature.py::test_two"],
            ("src/feature.py",),
            "tests/unit/test_feature.py::test_two does not exist: "
            "tests/unit/test_feature.py defines no test_two",
        ),
        (
            "done",
            ["tests/unit/test_feature.py::TestGroup::test_one"],
            ("src/feature.py",),
            "tests/unit/test_feature.py::TestGroup::test_one does not exist: "
            "tests/unit/test_feature.py defines no TestGroup::test_one",
        ),
        (
            "done",
            ["tests/conftest.py"],
            ("src/feature.py",),
            "done, but it cites no test (test_*.py)",
        ),
        ("done", ["src/feature.py"], ("src/feature.py",), "done, but it cites no test (test_*.py)"),
        ("done", [], ("src/feature.py",), "done/partial needs modules, tests and verified_against"),
    ],
)
def test_check_fails_naming_the_row_that_claims_too_much(
    project: Path, status: str, tests: list[str], modules: tuple[str, ...], complaint: str
) -> None:
    (project / "coverage.md").write_text("whatever was written before\n")
    code, output = coverage(project, row(status, tests, modules), check=True)
    assert code == 2
    assert f"topics.one.a: {complaint}" in " ".join(output.split()), output


def test_a_partial_row_may_cite_only_supporting_files(project: Path) -> None:
    assert coverage(project, row("partial", ["tests/conftest.py"]), check=False)[0] == 0


def test_check_fails_when_the_document_is_stale(project: Path) -> None:
    mapping = row("done", ["tests/unit/test_feature.py"])
    coverage(project, mapping, check=False)
    (project / "coverage.md").write_text("edited by hand\n")
    code, output = coverage(project, mapping, check=True)
    assert code == 1
    assert "coverage.md is stale" in output
