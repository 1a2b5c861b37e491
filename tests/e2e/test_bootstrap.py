"""`make run` on a fresh machine: only the system python3 (with pip) and make, no uv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.needs import unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
SYSTEM_PATH = "/usr/bin:/bin"


def test_make_uv_installs_uv_with_the_system_python(tmp_path: Path) -> None:
    """Debian 12's python3 is externally managed (PEP 668): it refused the
    `pip install --user uv` that `make run` began with. Needs the package index (about 4 s)."""
    python = shutil.which("python3", path=SYSTEM_PATH)
    if python is None or shutil.which("uv", path=SYSTEM_PATH):
        unavailable("a system python3 and no uv on PATH", f"python3: {python}")
    if subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode:
        unavailable("a system python3 with pip", f"{python} -m pip does not run")
    clone = tmp_path / "clone"  # `make uv` reads nothing but the Makefile
    clone.mkdir()
    shutil.copy(ROOT / "Makefile", clone)
    home = tmp_path / "home"  # nothing in ~/.local/bin either
    home.mkdir()
    env = {"PATH": SYSTEM_PATH, "HOME": str(home)}
    env |= {k: v for k, v in os.environ.items() if k.lower().endswith("_proxy")}

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=120
        )

    first = make("uv")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Installing uv ")
    uv = clone / ".tools" / "bin" / "uv"
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("uv ")

    again = make("uv")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert f"{uv} sync --frozen --no-dev" in make("-n", "install").stdout
