"""Stricter limit for `progress-get` (scenario `progress-get-one-trip`): the app's work for
`GET /api/v1/me/progress/{slug}` in the fewest round trips, whatever the app's statements.

Per request, as `ProgressService.view` (src/waymark/features/progress/service.py) with the
caller found as for any signed-in route:

1. **the caller**: the access token verified and its refresh family checked live with one
   HMGET (`bench/limits/_bearer.py`; the signature once per token, as the app);
2. **one round trip** (asyncpg, no transaction, a pool of the app's size) reads everything
   the answer needs: the account (not disabled; `tokens_valid_after` is checked against the
   token as the app does), the learner's row of `roadmap_progress` (counts, last event
   number, dates), the version they last saw (`progress_visits`), their topics' statuses
   (`topic_progress`) and their sections' counts (`section_progress`). The app reads them
   in two statements on its hot-read pool: the account (as the caller of every route),
   then the learner's state, counting the sections from the statuses (`progress-get`'s
   own limit, `raw_progress_get.py`, runs those two);
3. the roadmap's current content is in memory, as in the app (`bench/limits/_progress.py`);
   from it and the rows: every current topic's status, the counts overall and per section,
   the next three topics neither done nor skipped (core before extra), and the ETag
   (`"p{last event}.v{version}.s{version seen}"`);
4. the view as JSON with msgspec (the app's bytes), with the app's headers and that ETag.

What it does not do: tell what changed since an older version the learner saw (the app then
reads that version's document and compares it with the current one). The scenario's learners
have seen the current version, as they do until the roadmap changes, so the app does not
either; the limit answers 500 rather than a wrong view if it ever meets one.

Anything that fails the caller's checks answers 401, as the app does (its body differs; the
harness only compares 200 answers).

Configuration: `roadmap` (the public JSON of the roadmap) and what
`bench/limits/_signed_in.py` reads (`headers`: the app's response headers for the view).
"""

from __future__ import annotations

from typing import Any

from bench.limits._asgi import Receive, Scope
from bench.limits._bearer import issued_before
from bench.limits._progress import Roadmap, render_view
from bench.limits._signed_in import NOT_FOUND, UNAUTHORIZED, Answer, SignedInLimit, text

VIEW_SQL = """
SELECT u.tokens_valid_after, r.last_seq, r.done, r.learning, r.skipped,
       r.started_at, r.last_activity_at, r.completed_at, v.seen_version,
       t.keys, t.statuses, s.keys AS section_keys, s.done AS section_done,
       s.learning AS section_learning, s.skipped AS section_skipped
FROM users u
LEFT JOIN roadmap_progress r ON r.user_id = u.id AND r.roadmap_id = $2
LEFT JOIN progress_visits v ON v.user_id = u.id AND v.roadmap_id = $2
CROSS JOIN LATERAL (
    SELECT array_agg(topic_key) AS keys, array_agg(status) AS statuses
    FROM topic_progress WHERE user_id = u.id AND roadmap_id = $2
) t
CROSS JOIN LATERAL (
    SELECT array_agg(section_key) AS keys, array_agg(done) AS done,
           array_agg(learning) AS learning, array_agg(skipped) AS skipped
    FROM section_progress WHERE user_id = u.id AND roadmap_id = $2
) s
WHERE u.id = $1 AND u.disabled_at IS NULL
"""


limit = SignedInLimit()
roadmap = Roadmap(limit.config["roadmap"])
limit.on_startup.append(roadmap.find)
PATH = f"/api/v1/me/progress/{roadmap.slug}"
UNSUPPORTED = text(500, b"this limit serves learners who saw the roadmap's current version")


def render(row: Any) -> tuple[bytes, str] | None:
    """The view's body and ETag from the row of VIEW_SQL; None when the learner last saw
    another version (the app would list what changed since)."""
    statuses: dict[str, Any] = dict(zip(row[9], row[10], strict=True)) if row[9] else {}
    tallies = (
        {key: (d, lr, s) for key, d, lr, s in zip(row[11], row[12], row[13], row[14], strict=True)}
        if row[11]
        else {}
    )
    return render_view(roadmap, row, statuses, tallies)


async def view(scope: Scope, receive: Receive) -> Answer:
    if scope["path"] != PATH or scope["method"] != "GET":
        return NOT_FOUND
    caller = await limit.caller(scope)
    if caller is None:
        return UNAUTHORIZED
    user_id, claims = caller
    async with limit.pool.acquire() as conn:
        row = await conn.fetchrow(VIEW_SQL, user_id, roadmap.id)
    if row is None or issued_before(claims.iat, row[0]):
        return UNAUTHORIZED
    rendered = render(row)
    if rendered is None:
        return UNSUPPORTED
    return limit.ok(*rendered)


app = limit.serve(view)
