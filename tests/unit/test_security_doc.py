"""docs/security.md cites tests by file and by name: every one it cites must exist, so the
page cannot claim a proof that was renamed or deleted."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "security.md"


def _cited() -> tuple[set[str], set[str]]:
    text = PAGE.read_text()
    paths = set(re.findall(r"`(tests/[\w/]+\.py)`", text))
    names = set(re.findall(r"`(test_\w+)`", text))
    return paths, names


def test_every_cited_test_file_exists() -> None:
    paths, _ = _cited()
    assert paths, "the page cites no test files"
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert missing == []


def test_every_cited_test_name_is_defined() -> None:
    _, names = _cited()
    assert names, "the page cites no tests by name"
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"def (test_\w+)\(", path.read_text())
    }
    assert sorted(names - defined) == []
