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


def test_make_install_with_only_the_system_python(tmp_path: Path) -> None:
    """Debian 12's python3 is externally managed (PEP 668): it refused the
    `pip install --user uv` that `make run` began with. Then uv, unlike Debian's pip, did not
    trust the system's certificate store. Needs the package indexes (about 15 s here)."""
    python = shutil.which("python3", path=SYSTEM_PATH)
    if python is None or shutil.which("uv", path=SYSTEM_PATH):
        unavailable("a system python3 and no uv on PATH", f"python3: {python}")
    if subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode:
        unavailable("a system python3 with pip", f"{python} -m pip does not run")
    clone = tmp_path / "clone"  # what `make install` reads of a clone
    shutil.copytree(ROOT / "src", clone / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Makefile", "pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, clone)
    home = tmp_path / "home"  # nothing in ~/.local/bin, an empty uv cache
    home.mkdir()
    env = {"PATH": SYSTEM_PATH, "HOME": str(home)}
    env |= {k: v for k, v in os.environ.items() if k.lower().endswith("_proxy")}

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=180
        )

    try:
        first = make("install")
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.startswith("Installing uv ")
        uv = clone / ".tools" / "bin" / "uv"
        version = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30)
        assert version.stdout.startswith("uv ")
        waymark = subprocess.run(
            [clone / ".venv" / "bin" / "waymark", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert waymark.returncode == 0, waymark.stderr

        again = make("install")  # harmless to repeat, and quiet
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the uv cache: a hundred megabytes
        shutil.rmtree(clone / ".venv", ignore_errors=True)
