"""Settings for tests: never read from the developer's shell, and cheap to hash with.

`pytest_configure` (tests/conftest.py) strips every `WAYMARK_*` variable but the
`WAYMARK_TEST_*` ones from the environment and points `WAYMARK_ENV_FILE` at nothing, so
neither a test nor a `waymark` command it runs reads an exported Redis URL or a `.env`.
"""

from __future__ import annotations

import os
from typing import Any

from waymark.settings import AuthSettings, LiveSettings, LogSettings, SchedulerSettings, Settings

CHEAP_ARGON2 = {"argon2_memory_kib": 64, "argon2_time_cost": 1}
"""argon2 at a fraction of a millisecond: for every test but those of hashing itself and of
its timing, which build their own hasher (tests/unit/security/test_passwords.py)."""


def isolate_from_the_shell() -> None:
    for name in [n for n in os.environ if n.startswith("WAYMARK_")]:
        if not name.startswith("WAYMARK_TEST_"):
            del os.environ[name]
    os.environ["WAYMARK_ENV_FILE"] = ""


def app_settings(**values: Any) -> Settings:
    """Settings of a test app: `environment=test`, cheap hashing, quiet logs; `values` win."""
    defaults: dict[str, Any] = {
        "environment": "test",
        "auth": AuthSettings(**CHEAP_ARGON2),  # type: ignore[arg-type]
        "log": LogSettings(level="warning", access=False),
        # The in-process test client reads an answer whole: a live stream ends at once
        # (`close`, `expired`). Streams are tested against served processes (tests/e2e).
        "live": LiveSettings(stream_seconds=0.05),
        # No scheduler in the lifespan: a slot falling due mid-test would add outbox messages
        # to the ones a test counts. The tests of the scheduler start it themselves.
        "scheduler": SchedulerSettings(in_process=False),
    }
    return Settings(**(defaults | values))
