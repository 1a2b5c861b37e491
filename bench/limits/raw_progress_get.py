"""Limit for `progress-get`: the app's work for `GET /api/v1/me/progress/{slug}`, with the
app's own SQL statements (issue 11's definition of the limit), nothing more.

Per request, as `ProgressService.view` (src/waymark/features/progress/service.py) with the
caller found as for any signed-in route:

1. **the caller**: the access token verified and its refresh family checked live with one
   HMGET (`bench/limits/_bearer.py`; the signature once per token, as the app);
2. **the app's two statements** (compiled from its own statement objects,
   `bench/limits/_statements.py`), on one connection of an asyncpg pool of the app's size,
   no transaction: the account (`accounts.repository._ACCOUNT_BY_ID`: refused if missing,
   disabled, or the token was issued before its `tokens_valid_after`), then the learner's
   state of the roadmap (`progress.repository.LEARNER_STATE`: the `roadmap_progress` row,
   the version seen, the latest day and every topic's status as one JSON object);
3. the roadmap's current content is in memory, as in the app (`bench/limits/_progress.py`);
   from it and the rows: every current topic's status, the counts overall and per section
   (counted from the statuses, as the app does), the next three topics neither done nor
   skipped (core before extra), and the ETag (`"p{last event}.v{version}.s{version seen}"`);
4. the view as JSON with msgspec (the app's bytes), with the app's headers and that ETag.

The app takes a hot-read connection for each statement (the account is read by the caller's
check, before the route's own work); the limit takes one for both. `progress-get-one-trip`
(`raw_progress_get_one_trip.py`) measures the same work in one round trip, the floor the
app's layering (the caller found by `auth`, the view read by `progress`) gives up.

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

import msgspec

from bench.limits._asgi import Receive, Scope
from bench.limits._bearer import issued_before
from bench.limits._progress import Roadmap, render_view
from bench.limits._signed_in import NOT_FOUND, UNAUTHORIZED, Answer, SignedInLimit, text
from bench.limits._statements import Statement
from waymark.features.accounts.repository import _ACCOUNT_BY_ID
from waymark.features.progress.repository import LEARNER_STATE

ACCOUNT = Statement(_ACCOUNT_BY_ID.statement)
STATE = Statement(LEARNER_STATE.statement)

limit = SignedInLimit()
roadmap = Roadmap(limit.config["roadmap"])
limit.on_startup.append(roadmap.find)
PATH = f"/api/v1/me/progress/{roadmap.slug}"
UNSUPPORTED = text(500, b"this limit serves learners who saw the roadmap's current version")
_decode = msgspec.json.decode


async def view(scope: Scope, receive: Receive) -> Answer:
    if scope["path"] != PATH or scope["method"] != "GET":
        return NOT_FOUND
    caller = await limit.caller(scope)
    if caller is None:
        return UNAUTHORIZED
    user_id, claims = caller
    async with limit.pool.acquire() as conn:
        account = await conn.fetchrow(ACCOUNT.sql, *ACCOUNT.args({"user_id": user_id}))
        if (
            account is None
            or account["disabled"]
            or issued_before(claims.iat, account["tokens_valid_after"])
        ):
            return UNAUTHORIZED
        state = await conn.fetchrow(
            STATE.sql, *STATE.args({"account_id": user_id, "roadmap_id": roadmap.id})
        )
    statuses = _decode(state["statuses"]) if state["statuses"] else {}
    rendered = render_view(roadmap, state, statuses, roadmap.section_tallies(statuses))
    if rendered is None:
        return UNSUPPORTED
    return limit.ok(*rendered)


app = limit.serve(view)
