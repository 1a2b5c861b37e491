"""`progress-put-one-trip`: `progress-put`'s workload against a stricter limit, one statement
per change (`bench/limits/raw_progress_put_one_trip.py`: a single writable CTE in autocommit,
one round trip where the app makes seven).

No target: `progress-put` holds the issue's target against the app's own statements; this
says how far from the database's floor a change is, and what merging the app's statements
would be worth.
"""

from __future__ import annotations

from dataclasses import replace

from bench.scenarios.progress_put import SCENARIO as SAME_STATEMENTS

SCENARIO = replace(
    SAME_STATEMENTS,
    name="progress-put-one-trip",
    limit_app="bench.limits.raw_progress_put_one_trip:app",
    limit_summary="raw ASGI doing the app's work in one statement (asyncpg, autocommit) that "
    "checks the account, reads the last event number and the statuses, appends the event, "
    "upserts the topic's status, the roadmap's and section's counts, the day and the version "
    "seen (and the outbox rows of the app's subscribers), retried like the app",
    targets=(),
)
