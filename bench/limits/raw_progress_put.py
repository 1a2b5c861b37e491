"""Limit for `progress-put`: the app's work for `PUT /api/v1/me/progress/{slug}/topics/{id}`,
with the app's own SQL statements run on bare asyncpg.

The issue's definition of this limit: the same token check and **the same SQL statements**,
so the ratio measures what the app spends around its statements (framework, SQLAlchemy, its
Python), not a difference in database work. The statements are the app's own statement
objects (`progress/repository.py`, `accounts/repository.py`), compiled once at startup for
PostgreSQL: the same SQL by construction. (How far a single round trip would go is the other
limit, `raw_progress_put_one_trip.py`, measured by the `progress-put-one-trip` scenario.)

Per request, as `ProgressService.set_statuses` with the caller found as for any signed-in
route:

1. **the caller**: the access token verified and its refresh family checked live with one
   HMGET (`bench/limits/_bearer.py`; the signature once per token, as the app);
2. the body decoded and checked with the app's `StatusChange`, the topic looked up in the
   roadmap kept in memory (`bench/limits/_progress.py`);
3. on one pooled connection: the account (the app's hot read of it: not disabled,
   `tokens_valid_after` against the token's `iat`), then **a transaction** with the app's
   statements in the app's order: the learner's state (`LEARNER_STATE`: roadmap row, version
   seen, latest day, statuses), the event appended, the topic's status, the roadmap's counts
   and the changed section's counts upserted, the day marked when it is the learner's first
   change of the day (in their time zone), the version seen when never recorded, and the
   outbox rows of `progress.topic_status_changed` (and `progress.roadmap_completed` when the
   last topic is finished) for each of the app's subscribers (`outbox_kinds`, read from what
   the app wrote), as `Outbox.publish` writes them;
4. the result as the app's `TopicStatusResult` (msgspec), with the view's new ETag.

A change that loses the race for the event number (unique (account, roadmap, seq)) runs again
from the start after the app's random, growing wait, 409 after `MAX_ATTEMPTS`. The app's
relay then handles those messages, in the same process: work above the limit, which has no
relay, counted in the ratio.
Anything that fails the caller's checks answers 401, an unknown topic 404, a bad body 400.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from sqlalchemy import insert

from bench.limits._bearer import issued_before
from bench.limits._progress import Roadmap, change_route, counts, etag, tally
from bench.limits._signed_in import UNAUTHORIZED, Answer, SignedInLimit, text
from bench.limits._statements import Statement
from waymark.features.accounts.repository import _ACCOUNT_BY_ID
from waymark.features.progress import repository as app_sql
from waymark.features.progress.messages import RoadmapCompleted, TopicStatusChanged
from waymark.features.progress.schemas import Status, TopicStatusResult
from waymark.features.progress.tables import (
    progress_days,
    progress_visits,
    roadmap_progress,
    section_progress,
    topic_progress,
)
from waymark.infra.outbox.outbox import new_message_id
from waymark.infra.outbox.tables import PENDING, outbox

MAX_ATTEMPTS = 50
BACKOFF_CAP = 0.2


def _columns(table: Any) -> list[str]:
    return [column.name for column in table.columns]


ACCOUNT = Statement(_ACCOUNT_BY_ID.statement)
STATE = Statement(app_sql.LEARNER_STATE.statement)
EVENT = Statement(
    app_sql._INSERT_EVENT, [*app_sql.EventRow.__struct_fields__, "user_id", "roadmap_id"]
)
TOPIC = Statement(
    app_sql._upsert("postgresql", topic_progress, update=app_sql._TOPIC_UPDATE),
    _columns(topic_progress),
)
ROADMAP = Statement(
    app_sql._upsert("postgresql", roadmap_progress, update=app_sql._ROADMAP_UPDATE),
    _columns(roadmap_progress),
)
SECTION = Statement(
    app_sql._upsert("postgresql", section_progress, update=app_sql._COUNTS),
    _columns(section_progress),
)
DAY = Statement(app_sql._upsert("postgresql", progress_days), _columns(progress_days))
SEEN = Statement(app_sql._upsert("postgresql", progress_visits), _columns(progress_visits))
# The columns `Outbox.publish` gives a message (the others keep their defaults).
_MESSAGE = (
    "id",
    "kind",
    "payload",
    "correlation_id",
    "state",
    "attempts",
    "created_at",
    "available_at",
)
OUTBOX = Statement(insert(outbox), list(_MESSAGE))

limit = SignedInLimit()
roadmap = Roadmap(limit.config["roadmap"])
limit.on_startup.append(roadmap.find)
_kinds = limit.config["outbox_kinds"]
KINDS_CHANGED: list[str] = _kinds.get("progress.topic_status_changed", [])
KINDS_COMPLETED: list[str] = _kinds.get("progress.roadmap_completed", [])
PREFIX = f"/api/v1/me/progress/{roadmap.slug}/topics/"
_encode = msgspec.json.Encoder().encode
CONFLICT = text(409, b"too many changes at once")
_REQUEST_PREFIX = secrets.token_hex(8)  # request ids as the app makes them
_requests = itertools.count(1)


async def _change(
    conn: Any, user_id: uuid.UUID, zone: str, topic: str, status: Status, request_id: str
) -> tuple[bool, int, int | None, tuple[int, int, int]]:
    """The app's transaction: whether it changed, the last event number, the version seen
    and the roadmap's counts."""
    ids = {"account_id": user_id, "roadmap_id": roadmap.id}
    state = await conn.fetchrow(STATE.sql, *STATE.args(ids))
    statuses: dict[str, str] = msgspec.json.decode(state["statuses"] or "{}")
    last_seq, seen = state["last_seq"] or 0, state["seen_version"]
    before = statuses.get(topic, "pending")
    if before == status:
        return False, last_seq, seen, tally(statuses, roadmap.topic_ids)
    now = datetime.now(UTC)
    seq = last_seq + 1
    common = {"user_id": user_id, "roadmap_id": roadmap.id}
    event = {
        **common,
        "seq": seq,
        "topic_key": topic,
        "from_status": before,
        "to_status": status,
        "at": now,
        "roadmap_version": roadmap.version,
        "request_id": request_id,
    }
    await conn.fetchrow(EVENT.sql, *EVENT.args(event))
    topic_row = {**common, "topic_key": topic, "status": status, "changed_at": now, "seq": seq}
    await conn.execute(TOPIC.sql, *TOPIC.args(topic_row))
    statuses[topic] = status
    done, learning, skipped = tallies = tally(statuses, roadmap.topic_ids)
    complete = done + skipped == roadmap.total
    started = state["started_at"] or now
    completed = (state["completed_at"] or now) if complete else None
    await conn.execute(
        ROADMAP.sql,
        *ROADMAP.args(
            {
                **common,
                "roadmap_slug": roadmap.slug,
                "last_seq": seq,
                "done": done,
                "learning": learning,
                "skipped": skipped,
                "started_at": started,
                "last_activity_at": now,
                "completed_at": completed,
            }
        ),
    )
    section = roadmap.section_of[topic]
    s_done, s_learning, s_skipped = tally(statuses, roadmap.section_topics[section])
    await conn.execute(
        SECTION.sql,
        *SECTION.args(
            {
                **common,
                "section_key": section,
                "done": s_done,
                "learning": s_learning,
                "skipped": s_skipped,
            }
        ),
    )
    tz = ZoneInfo(zone)
    last_active = state["last_activity_at"]
    if last_active is None or last_active.astimezone(tz).date() != now.astimezone(tz).date():
        await conn.execute(
            DAY.sql, *DAY.args({"user_id": user_id, "day": now.astimezone(tz).date()})
        )
    if seen is None:
        visit = {**common, "seen_version": roadmap.version, "seen_at": now}
        await conn.execute(SEEN.sql, *SEEN.args(visit))
        seen = roadmap.version
    announced = TopicStatusChanged(
        account_id=str(user_id),
        roadmap=roadmap.slug,
        roadmap_version=roadmap.version,
        topic_id=topic,
        from_status=before,
        to_status=status,
        seq=seq,
        at=now,
        done=done,
        learning=learning,
        skipped=skipped,
        total=roadmap.total,
        request_id=request_id,
    )
    await _announce(conn, KINDS_CHANGED, announced, request_id, now)
    if complete and state["completed_at"] is None:
        finished = RoadmapCompleted(
            account_id=str(user_id), roadmap=roadmap.slug, roadmap_version=roadmap.version, at=now
        )
        await _announce(conn, KINDS_COMPLETED, finished, request_id, now)
    return True, seq, seen, tallies


async def _announce(
    conn: Any, kinds: list[str], event: msgspec.Struct, request_id: str, now: datetime
) -> None:
    """The outbox rows `Outbox.publish` writes: one per subscriber of the event, in one
    statement (executed once per row by the driver, as SQLAlchemy's executemany does)."""
    payload = _encode(event).decode()
    rows = [
        OUTBOX.args(
            {
                "id": new_message_id(now),
                "kind": kind,
                "payload": payload,
                "correlation_id": request_id,
                "state": PENDING,
                "attempts": 0,
                "created_at": now,
                "available_at": now,
            }
        )
        for kind in kinds
    ]
    if len(rows) == 1:
        await conn.execute(OUTBOX.sql, *rows[0])
    elif rows:
        await conn.executemany(OUTBOX.sql, rows)


async def apply(user_id: uuid.UUID, iat: int, topic: str, status: Status) -> Answer:
    request_id = f"{_REQUEST_PREFIX}{next(_requests):016x}"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with limit.pool.acquire() as conn:
                account = await conn.fetchrow(ACCOUNT.sql, *ACCOUNT.args({"user_id": user_id}))
                if (
                    account is None
                    or account["disabled"]
                    or issued_before(iat, account["tokens_valid_after"])
                ):
                    return UNAUTHORIZED
                async with conn.transaction():
                    changed, seq, seen, tallies = await _change(
                        conn, user_id, account["time_zone"], topic, status, request_id
                    )
            break
        except asyncpg.UniqueViolationError:
            await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP, 0.005 * 2**attempt)))
    else:
        return CONFLICT
    result = TopicStatusResult(
        topic_id=topic, status=status, changed=changed, counts=counts(*tallies, roadmap.total)
    )
    return limit.ok(_encode(result), etag(seq, roadmap.version, seen))


app = limit.serve(change_route(limit, roadmap, PREFIX, apply))
