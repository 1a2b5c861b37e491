"""Limit for `page-roadmap`: the signed-in roadmap page, `GET /roadmaps/{slug}` with the
session cookie, doing the app's work but drawing nothing.

Per request, as the page handler (`web/roadmap_pages.py`, `web/learning.py`) with the
visitor found as for any page:

1. **the session**: the cookie's hash looked up in Redis with one HMGET
   (`bench/limits/_session.py`);
2. **the app's SQL, statement for statement** (its SQLAlchemy statements compiled once for
   PostgreSQL: `bench/limits/_statements.py`), on one pooled asyncpg connection, no
   transaction: the account (`accounts.repository._ACCOUNT_BY_ID`: not disabled,
   `tokens_valid_after` not after the session's creation), the learner's state
   (`progress.repository.LEARNER_STATE`: the roadmap's counts, the version seen, every
   topic's status), and the learner's notes and resources on the roadmap (the document
   store's scan, `infra/sql/documents._select`, once per collection), and the bell's count
   of unread notifications (`notifications.repository._UNREAD`). The app sends the same
   five, on one hot-read connection;
3. the page: **the app's bytes for that learner**, captured from the app by the scenario
   (one page per session: the learners' state does not change during a run), with the
   app's headers. Drawing the page from the rows is the app's work above the limit: what
   the ratio measures.

A request without a live session, or whose account is gone, disabled or signed out
everywhere since, is answered 401 (the app shows the stranger's page and clears the
cookie; the scenario sends no such request).

Configuration: `pages` (session id → file of the app's page), `roadmap_slug`, `owner_prefix`
and what `bench/limits/_signed_in.py` and `_session.py` read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select

from bench.limits._asgi import Scope
from bench.limits._bearer import issued_before
from bench.limits._session import SESSION_COOKIE, Sessions, cookie_value
from bench.limits._signed_in import NOT_FOUND, UNAUTHORIZED, Answer, SignedInLimit
from bench.limits._statements import Statement
from waymark.features.accounts.repository import _ACCOUNT_BY_ID
from waymark.features.notes.documents import NOTES, RESOURCES
from waymark.features.notes.service import PAGE
from waymark.features.notifications.repository import _UNREAD
from waymark.features.progress.repository import LEARNER_STATE
from waymark.infra.sql.document_tables import document_lookups, documents


def _scan_statement() -> Any:
    """The document store's scan of one collection under a key prefix, as
    `SqlDocumentStore.scan` builds it (`infra/sql/documents.py`), with named parameters."""
    # `aggregate_strings(..., " ")`, as PostgreSQL receives it: SQLAlchemy renders the
    # separator into the statement's text when it runs it.
    held = (
        select(func.string_agg(document_lookups.c.lookup_key, literal_column("' '")))
        .where(
            document_lookups.c.owner == documents.c.owner,
            document_lookups.c.collection == documents.c.collection,
            document_lookups.c.key == documents.c.key,
        )
        .scalar_subquery()
    )
    where = and_(
        documents.c.owner == bindparam("owner"),
        documents.c.collection == bindparam("collection"),
        documents.c.key >= bindparam("low"),
        documents.c.key < bindparam("high"),
    )
    return (
        select(documents, held.label("lookup_keys"))
        .where(where)
        .order_by(documents.c.key)
        .limit(bindparam("limit"))
    )


ACCOUNT = Statement(_ACCOUNT_BY_ID.statement)
STATE = Statement(LEARNER_STATE.statement)
SCAN = Statement(_scan_statement())
UNREAD = Statement(_UNREAD.statement)

limit = SignedInLimit()
sessions = Sessions(limit.config)
SLUG: str = limit.config["roadmap_slug"]
PATH = f"/roadmaps/{SLUG}"
PREFIX = f"{SLUG}/"
PAGES: dict[bytes, bytes] = {
    session.encode(): Path(name).read_bytes() for session, name in limit.config["pages"].items()
}
ROADMAP_ID: list[int] = []


async def _open(pool: Any) -> None:
    ROADMAP_ID.append(await pool.fetchval("SELECT id FROM roadmaps WHERE slug = $1", SLUG))
    await sessions.open(limit.config["redis_url"])


limit.on_startup.append(_open)


async def page(scope: Scope, receive: Any) -> Answer:
    if scope["path"] != PATH or scope["method"] != "GET":
        return NOT_FOUND
    caller = await sessions.caller(scope, time.time())
    if caller is None:
        return UNAUTHORIZED
    user_id, created_at = caller
    scan = {"owner": str(user_id), "low": PREFIX, "high": SLUG + "0", "limit": PAGE}
    async with limit.pool.acquire() as conn:
        account = await conn.fetchrow(ACCOUNT.sql, *ACCOUNT.args({"user_id": user_id}))
        if (
            account is None
            or account["disabled"]
            or issued_before(int(created_at), account["tokens_valid_after"])
        ):
            return UNAUTHORIZED
        params = {"account_id": user_id, "roadmap_id": ROADMAP_ID[0]}
        await conn.fetchrow(STATE.sql, *STATE.args(params))
        await conn.fetch(SCAN.sql, *SCAN.args({**scan, "collection": NOTES}))
        await conn.fetch(SCAN.sql, *SCAN.args({**scan, "collection": RESOURCES}))
        await conn.fetchrow(UNREAD.sql, *UNREAD.args({"account_id": user_id}))
    body = PAGES.get(cookie_value(scope, SESSION_COOKIE) or b"")
    if body is None:
        return NOT_FOUND
    return limit.ok(body)


app = limit.serve(page)
