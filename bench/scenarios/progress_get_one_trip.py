"""`progress-get-one-trip`: `progress-get`'s workload against a stricter limit, one round trip
per view (`bench/limits/raw_progress_get_one_trip.py`: the account, the learner's row, the
version seen, the statuses and the sections' counts in one statement, where the app makes
two: the caller's account, read by `auth` for every route, then the learner's state).

No target: `progress-get` holds the issue's target against the app's own statements; this
says how far from the database's floor a view is, and what merging the caller's read into
each route's own would be worth.
"""

from __future__ import annotations

from dataclasses import replace

from bench.scenarios.progress_get import SCENARIO as SAME_STATEMENTS

SCENARIO = replace(
    SAME_STATEMENTS,
    name="progress-get-one-trip",
    limit_app="bench.limits.raw_progress_get_one_trip:app",
    limit_summary="raw ASGI doing the app's work in one asyncpg round trip: the caller as "
    "auth-me's limit (token once, family with one HMGET), then account, progress row, "
    "statuses, section counts and the version seen in one statement; the view computed from "
    "them and the roadmap in memory, encoded with msgspec",
    targets=(),
)
