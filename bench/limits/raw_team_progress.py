"""Limit for `team-progress`: the app's work for `GET /api/v1/teams/{id}/progress/{slug}`,
with the app's own SQL statements run by asyncpg, nothing more.

Per request, as `Reports.on_roadmap` (src/waymark/features/teams/reports.py) with the caller
found as for any signed-in route:

1. **the caller**: the access token verified and its refresh family checked live with one
   HMGET (`bench/limits/_bearer.py`; the signature once per token, as the app);
2. **the app's statements, in its order**, each as the app sends it to PostgreSQL (the same
   text, so the same plans; `tests/integration/test_teams_progress_cost.py` compares them
   with what the app runs), one after the other on one connection of a pool of the app's
   size, no transaction:
   - `ACCOUNT`: the caller's account (the app's hot read); gone or disabled, or the token
     issued before `tokens_valid_after`: 401;
   - `STANDING`: the team and the caller's role in it; no team or no role: 404, a role that
     may not read the team's progress (`kernel.authz.TEAM_ROLES`, or a member of a team that
     lets members see it): 403;
   - `ASSIGNED`: the team's assignment of the roadmap, with its hidden topics; none: 404;
   - `MEMBERS`: the members, longest-standing first;
   - `learner_rows`: their `roadmap_progress` rows (counts, last activity);
   - `topic_tallies`: per topic and status, how many of them (pending aside);
   - `accounts`: the members' accounts (names, addresses).
   The statements are in `bench/limits/_team_sql.py`.
3. the roadmap's current content is in memory, as in the app's catalog (`_progress.Roadmap`,
   from its public JSON); from it and the rows: each member's counts and last activity,
   everyone's added up, and per topic how many members are done, learning, skipped or
   pending (the app's rules: counts capped at the roadmap's topics, pending never below 0);
4. the answer encoded with the app's own msgspec Structs (`TeamProgress`...): the app's
   bytes, with its headers.

What it does not do: leave out topics a team hides (the app then runs one more statement,
per member and status on the hidden topics, and subtracts). The scenario's team hides none;
the limit answers 500 rather than a wrong answer if it ever meets one that does.

Anything that fails the caller's checks answers 401, 403 or 404 as the app does (its body
differs; the harness only compares 200 answers).

Configuration: `roadmap` (the public JSON of the roadmap) and what
`bench/limits/_signed_in.py` reads (`headers`: the app's response headers for the route).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from bench.limits._asgi import Receive, Scope
from bench.limits._bearer import issued_before
from bench.limits._progress import Roadmap, counts
from bench.limits._signed_in import NOT_FOUND, UNAUTHORIZED, Answer, SignedInLimit, text
from bench.limits._team_sql import ACCOUNT, ASSIGNED, MEMBERS, STANDING, Sized
from waymark.features.progress.schemas import Counts
from waymark.features.teams.schemas import MemberProgress, TeamProgress, TopicHeat
from waymark.kernel.authz import TEAM_ROLES, Action

READERS = frozenset(
    role.value for role, actions in TEAM_ROLES.items() if Action.PROGRESS_READ in actions
)
"""Team roles that read the team's progress whatever the team's setting."""

limit = SignedInLimit()
roadmap = Roadmap(limit.config["roadmap"])
PREFIX, SUFFIX = "/api/v1/teams/", f"/progress/{roadmap.slug}"
HEAT = [
    (topic["id"], topic["title"], section["id"])
    for section in limit.config["roadmap"]["sections"]
    for topic in section["topics"]
]
sized = Sized()
_encode = msgspec.json.Encoder().encode
FORBIDDEN = text(403, b"forbidden")
UNSUPPORTED = text(500, b"this limit serves teams that hide no topic")


def capped(done: int, learning: int, skipped: int, total: int) -> Counts:
    """The app's rule: never more than there are topics (a recount after a new version of
    the roadmap may not have run yet), trimmed skipped first, then learning, then done."""
    excess = done + learning + skipped - total
    if excess > 0:
        cut = min(excess, skipped)
        skipped, excess = skipped - cut, excess - cut
        cut = min(excess, learning)
        learning, excess = learning - cut, excess - cut
        done -= excess
    return counts(done, learning, skipped, total)


def render(
    team_id: uuid.UUID,
    members: list[Any],
    rows: list[Any],
    tallies: list[Any],
    people: list[Any],
) -> bytes:
    """The answer from the rows of `MEMBERS`, `learner_rows`, `topic_tallies` and `accounts`."""
    total = roadmap.total
    learners = len(members)
    progress = {row[0]: row for row in rows}
    found = {row[0]: row for row in people}
    shown: list[MemberProgress] = []
    sums = [0, 0, 0]
    for member in members:
        row = progress.get(member[0])
        if row is None:
            mine, active = counts(0, 0, 0, total), None
        else:
            mine, active = capped(max(0, row[1]), max(0, row[2]), max(0, row[3]), total), row[4]
        sums[0] += mine.done
        sums[1] += mine.learning
        sums[2] += mine.skipped
        person = found.get(member[0])
        if person is not None:
            shown.append(
                MemberProgress(
                    account_id=member[0],
                    display_name=person[2],
                    email=person[1],
                    role=member[1],
                    counts=mine,
                    last_activity_at=active,
                )
            )
    tally = {(row[0], row[1]): row[2] for row in tallies}
    heat = []
    for topic, title, section in HEAT:
        done = tally.get((topic, "done"), 0)
        learning = tally.get((topic, "learning"), 0)
        skipped = tally.get((topic, "skipped"), 0)
        heat.append(
            TopicHeat(
                topic_id=topic,
                title=title,
                section_id=section,
                done=done,
                learning=learning,
                skipped=skipped,
                pending=max(0, learners - done - learning - skipped),
            )
        )
    last: datetime | None = max((row[4] for row in rows), default=None)
    return _encode(
        TeamProgress(
            team_id=team_id,
            slug=roadmap.slug,
            title=roadmap.title,
            version=roadmap.version,
            hidden_topics=[],
            overall=counts(sums[0], sums[1], sums[2], total * learners),
            last_activity_at=last,
            members=shown,
            topics=heat,
        )
    )


def _team_id(path: str) -> uuid.UUID | None:
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    try:
        return uuid.UUID(path[len(PREFIX) : -len(SUFFIX)])
    except ValueError:
        return None


async def progress(scope: Scope, receive: Receive) -> Answer:
    team_id = _team_id(scope["path"])
    if team_id is None or scope["method"] != "GET":
        return NOT_FOUND
    caller = await limit.caller(scope)
    if caller is None:
        return UNAUTHORIZED
    user_id, claims = caller
    async with limit.pool.acquire() as conn:
        account = await conn.fetchrow(ACCOUNT, user_id)
        if account is None or account[5] or issued_before(claims.iat, account[8]):
            return UNAUTHORIZED
        standing = await conn.fetchrow(STANDING, user_id, team_id)
        if standing is None or standing[5] is None:
            return NOT_FOUND
        if standing[5] not in READERS and not standing[2]:
            return FORBIDDEN
        assigned = await conn.fetch(ASSIGNED, team_id, roadmap.slug)
        if not assigned:
            return NOT_FOUND
        if assigned[0][3] is not None:
            return UNSUPPORTED
        members = await conn.fetch(MEMBERS, team_id)
        ids = [member[0] for member in members]
        rows, tallies, people = [], [], []
        if ids:
            rows_sql, tallies_sql, accounts_sql = sized(len(ids))
            roadmap_id = assigned[0][0]
            rows = await conn.fetch(rows_sql, roadmap_id, *ids)
            tallies = await conn.fetch(tallies_sql, roadmap_id, "pending", *ids)
            people = await conn.fetch(accounts_sql, *ids)
    return limit.ok(render(team_id, members, rows, tallies, people))


app = limit.serve(progress)
