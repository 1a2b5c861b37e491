"""What a test needs from the machine, and what happens when it is missing.

CI must run every test, so there a missing PostgreSQL, Redis or system tool fails the run;
elsewhere the tests that need it are skipped, loudly.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs {what}: {message}", pytrace=False)
    pytest.skip(f"!!! SKIPPING TESTS THAT NEED {what}: {message}")
