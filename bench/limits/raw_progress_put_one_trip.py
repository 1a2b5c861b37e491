"""Limit for `progress-put`: the app's work for `PUT /api/v1/me/progress/{slug}/topics/{id}`,
nothing more.

Per request, as `ProgressService.set_statuses` (src/waymark/features/progress/service.py)
with the caller found as for any signed-in route:

1. **the caller**: the access token verified and its refresh family checked live with one
   HMGET (`bench/limits/_bearer.py`; the signature once per token, as the app);
2. the body `{"status": ...}` decoded and checked with the app's `StatusChange` (msgspec),
   the topic looked up in the roadmap's current content, kept in memory as in the app
   (`bench/limits/_progress.py`);
3. **one statement, one round trip** (asyncpg, autocommit: the statement is the
   transaction; a pool of the app's size) does what the app does in a transaction of nine
   statements (eleven round trips with BEGIN and COMMIT) after a read of the account:
   checks the account (not disabled, `tokens_valid_after` not after the token's `iat`),
   reads the learner's last event number and their topics' statuses, and, if the status
   changes, appends the event (number + 1), upserts the topic's status, the roadmap's counts
   (recounted over every current topic, completion included) and the topic's section's
   counts, marks the day (in the account's time zone) and the version seen (if never), and
   writes the outbox rows of `progress.topic_status_changed` (and `progress.roadmap_completed`
   when the last topic is finished) for each of the app's subscribers (`outbox_kinds`: the
   kinds the app wrote for the scenario's own changes; none in this version of the app, so
   neither side writes any). The same status again writes nothing (`changed: false`);
4. the result (the topic's status, whether it changed, the roadmap's counts) as JSON, the
   app's `TopicStatusResult` encoded with msgspec, with the app's headers and the view's
   new ETag.

Writers of one learner's log meet on the event number as in the app: two that read the same
last number both insert the next, the unique (account, roadmap, seq) lets one through and the
other's statement fails whole; it runs again, reading what the winner wrote, after the app's
random, growing wait (`MAX_ATTEMPTS`, `BACKOFF_CAP`, as in the app), and answers 409 when it
runs out of tries. The event is inserted before anything else is written (the other writes
read its RETURNING), so a loser waits on the winner's event only, holding no other lock, as in
the app, whose first write is the event too.

Anything that fails the caller's checks answers 401, an unknown topic 404, a bad body 400.
`If-Match` is not looked at: the scenario sends none.

Configuration: `roadmap` (the public JSON of the roadmap), `outbox_kinds`
(`{event: [kind, ...]}`), and what `bench/limits/_signed_in.py` reads (`headers`: the app's
response headers for a change).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import uuid

import asyncpg
import msgspec

from bench.limits._progress import Roadmap, change_route, counts, etag
from bench.limits._signed_in import UNAUTHORIZED, Answer, SignedInLimit, text
from waymark.features.progress.schemas import Status, TopicStatusResult

MAX_ATTEMPTS = 50
BACKOFF_CAP = 0.2

# $1 account, $2 roadmap row id, $3 topic, $4 new status, $5 the token's iat, $6 and $7 the
# current topics and their sections (the roadmap in memory), $8 the topic's section,
# $9 version, $10 request id, $11 slug, $12 number of topics, $13 and $14 the outbox kinds of
# topic_status_changed and roadmap_completed.
CHANGE_SQL = """
WITH account AS (
    SELECT time_zone FROM users
    WHERE id = $1::uuid AND disabled_at IS NULL
      AND floor(extract(epoch FROM tokens_valid_after)) <= $5::bigint
),
progress AS (
    SELECT last_seq, started_at, completed_at FROM roadmap_progress
    WHERE user_id = $1::uuid AND roadmap_id = $2::int
),
topics AS (
    SELECT k.key, k.section, coalesce(t.status, 'pending') AS before,
           CASE WHEN k.key = $3::text THEN $4::text ELSE coalesce(t.status, 'pending') END
               AS status
    FROM unnest($6::text[], $7::text[]) AS k(key, section)
    LEFT JOIN topic_progress t
      ON t.user_id = $1::uuid AND t.roadmap_id = $2::int AND t.topic_key = k.key
),
tally AS (
    SELECT count(*) FILTER (WHERE status = 'done') AS done,
           count(*) FILTER (WHERE status = 'learning') AS learning,
           count(*) FILTER (WHERE status = 'skipped') AS skipped,
           count(*) FILTER (WHERE status = 'done' AND section = $8::text) AS section_done,
           count(*) FILTER (WHERE status = 'learning' AND section = $8::text) AS section_learning,
           count(*) FILTER (WHERE status = 'skipped' AND section = $8::text) AS section_skipped,
           max(before) FILTER (WHERE key = $3::text) AS before
    FROM topics
),
change AS (
    SELECT coalesce(p.last_seq, 0) + 1 AS seq, p.started_at, p.completed_at, a.time_zone,
           t.*, t.done + t.skipped = $12::int AS complete
    FROM tally t CROSS JOIN account a LEFT JOIN progress p ON true
    WHERE t.before <> $4::text
),
event AS (
    INSERT INTO progress_events (user_id, roadmap_id, seq, topic_key, from_status, to_status,
                                 at, roadmap_version, request_id)
    SELECT $1::uuid, $2::int, seq, $3::text, before, $4::text, now(), $9::int, $10::text
    FROM change
    RETURNING seq
),
topic AS (
    INSERT INTO topic_progress (user_id, roadmap_id, topic_key, status, changed_at, seq)
    SELECT $1::uuid, $2::int, $3::text, $4::text, now(), seq FROM event
    ON CONFLICT (user_id, roadmap_id, topic_key) DO UPDATE
    SET status = excluded.status, changed_at = excluded.changed_at, seq = excluded.seq
),
counted AS (
    INSERT INTO roadmap_progress (user_id, roadmap_id, roadmap_slug, last_seq, done, learning,
                                  skipped, started_at, last_activity_at, completed_at)
    SELECT $1::uuid, $2::int, $11::text, c.seq, c.done, c.learning, c.skipped,
           coalesce(c.started_at, now()), now(),
           CASE WHEN c.complete THEN coalesce(c.completed_at, now()) END
    FROM event CROSS JOIN change c
    ON CONFLICT (user_id, roadmap_id) DO UPDATE
    SET roadmap_slug = excluded.roadmap_slug, last_seq = excluded.last_seq,
        done = excluded.done, learning = excluded.learning, skipped = excluded.skipped,
        started_at = excluded.started_at, last_activity_at = excluded.last_activity_at,
        completed_at = excluded.completed_at
),
section AS (
    INSERT INTO section_progress (user_id, roadmap_id, section_key, done, learning, skipped)
    SELECT $1::uuid, $2::int, $8::text, c.section_done, c.section_learning, c.section_skipped
    FROM event CROSS JOIN change c
    ON CONFLICT (user_id, roadmap_id, section_key) DO UPDATE
    SET done = excluded.done, learning = excluded.learning, skipped = excluded.skipped
),
day AS (
    INSERT INTO progress_days (user_id, day)
    SELECT $1::uuid, (now() AT TIME ZONE c.time_zone)::date FROM event CROSS JOIN change c
    ON CONFLICT DO NOTHING
),
seen AS (
    INSERT INTO progress_visits (user_id, roadmap_id, seen_version, seen_at)
    SELECT $1::uuid, $2::int, $9::int, now() FROM event
    ON CONFLICT DO NOTHING
),
announced AS (
    INSERT INTO outbox (id, kind, payload, correlation_id, state, attempts, created_at,
                        available_at)
    SELECT gen_random_uuid()::text, kind, json_build_object(
               'version', 1, 'account_id', $1::uuid, 'roadmap', $11::text,
               'roadmap_version', $9::int, 'topic_id', $3::text, 'from_status', c.before,
               'to_status', $4::text, 'seq', c.seq, 'at', now(), 'done', c.done,
               'learning', c.learning, 'skipped', c.skipped, 'total', $12::int,
               'request_id', $10::text)::text,
           $10::text, 'pending', 0, now(), now()
    FROM event CROSS JOIN change c CROSS JOIN unnest($13::text[]) AS kind
    UNION ALL
    SELECT gen_random_uuid()::text, kind, json_build_object(
               'version', 1, 'account_id', $1::uuid, 'roadmap', $11::text,
               'roadmap_version', $9::int, 'at', now())::text,
           $10::text, 'pending', 0, now(), now()
    FROM event CROSS JOIN change c CROSS JOIN unnest($14::text[]) AS kind
    WHERE c.complete AND c.completed_at IS NULL
)
SELECT EXISTS (SELECT FROM account), (SELECT seq FROM event),
       (SELECT last_seq FROM progress),
       (SELECT seen_version FROM progress_visits
        WHERE user_id = $1::uuid AND roadmap_id = $2::int),
       t.done, t.learning, t.skipped
FROM tally t
"""

limit = SignedInLimit()
roadmap = Roadmap(limit.config["roadmap"])
limit.on_startup.append(roadmap.find)
PREFIX = f"/api/v1/me/progress/{roadmap.slug}/topics/"
_kinds = limit.config["outbox_kinds"]
KINDS_CHANGED: list[str] = _kinds.get("progress.topic_status_changed", [])
KINDS_COMPLETED: list[str] = _kinds.get("progress.roadmap_completed", [])
_encode = msgspec.json.Encoder().encode
CONFLICT = text(409, b"too many changes at once")
# A request id as the app makes them: a per-process prefix and a counter.
_REQUEST_PREFIX = secrets.token_hex(8)
_requests = itertools.count(1)


async def apply(user_id: uuid.UUID, iat: int, topic: str, status: Status) -> Answer:
    """CHANGE_SQL, again while another change of the learner's log takes the number."""
    args = (
        user_id,
        roadmap.id,
        topic,
        status,
        iat,
        roadmap.topic_ids,
        roadmap.topic_sections,
        roadmap.section_of[topic],
        roadmap.version,
        f"{_REQUEST_PREFIX}{next(_requests):016x}",
        roadmap.slug,
        roadmap.total,
        KINDS_CHANGED,
        KINDS_COMPLETED,
    )
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with limit.pool.acquire() as conn:
                row = await conn.fetchrow(CHANGE_SQL, *args)
            break
        except asyncpg.UniqueViolationError:
            await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP, 0.005 * 2**attempt)))
    else:
        return CONFLICT
    known, seq, last_seq, seen, done, learning, skipped = row
    if not known:
        return UNAUTHORIZED
    result = TopicStatusResult(
        topic_id=topic,
        status=status,
        changed=seq is not None,
        counts=counts(done, learning, skipped, roadmap.total),
    )
    if seq is not None:  # a change: the learner has now seen this version, if never before
        tag = etag(seq, roadmap.version, roadmap.version if seen is None else seen)
    else:
        tag = etag(last_seq or 0, roadmap.version, seen)
    return limit.ok(_encode(result), tag)


app = limit.serve(change_route(limit, roadmap, PREFIX, apply))
