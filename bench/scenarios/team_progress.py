"""`team-progress`: a manager reads their team's progress on the backend roadmap,
`GET /api/v1/teams/{id}/progress/backend` (issue 13, "Speed").

The team is made the way people make one, through the app's own API: an owner signs in,
creates the team (`POST /api/v1/teams`), has it follow the backend roadmap (`PUT
.../roadmaps/backend`), and invites 199 people (`POST .../invites`: one manager, the rest
members); each invitee signs in and accepts the link the app mailed them (`POST
/api/v1/invites/{token}/accept`, the token read from the `.eml` file the app's mailer
wrote). That makes 200 members. The invite throttle allows 100 invites an hour per team and
50 per inviter, and 100 pending at once, so the owner invites 50 at a time, they accept,
and the setup then deletes the team's and the owner's invite buckets in Redis, as an hour's
wait would have emptied them (as `_accounts.refused` edits a family to make a token the app
must refuse).

Every member then sets a realistic mix of statuses through the progress API (`POST
/api/v1/me/progress/backend/batch`), the topics they are done with first set learning, so
their histories are twice as long as their statuses (`mix`): one in ten never started (no
progress row at all), a few finished the roadmap, most are somewhere on it, mostly in
roadmap order, with a topic or two skipped and one to three in progress. No topic is hidden.

Before measuring, the database is vacuumed and analyzed (`_vacuum`), as autovacuum would
have done by then. The load is the manager's one request, over and over. The app finds the
caller (token, refresh family in Redis, account), reads the team, the caller's role in it,
the roadmap's assignment, the members, their progress rows and per-topic tallies (from the
read models, never the event log) and the members' accounts, and answers every member's
counts and the heat map. The limit (`bench/limits/raw_team_progress.py`) runs the same
statements with asyncpg, one after the other on one pooled connection, and answers the same
bytes.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from redis import Redis

from bench.scenario import AppContext, Request, Response, Scenario, Target, Workload, fetch
from bench.scenarios._accounts import create_accounts, login, refused, signed_in_config
from bench.scenarios._progress import (
    CYCLE,
    PASSWORD,
    bearer,
    roadmap_json,
    set_statuses,
    topic_ids,
)
from bench.scenarios._roadmap import ROADMAP_SLUG

MEMBERS = 200
"""The owner, one manager and 198 members."""
INVITE_BATCH = 50
"""Invites a manager may send an hour (`teams.limits.INVITE_ACCOUNT`)."""
INVITE_SUBJECT = "You are invited to join a team on Waymark"
FIRST_CLIENT = 0x1000
"""Client addresses of the members' logins (2001:db8:ffff::1000 and on, 202 of them)."""
_INVITE_LINK = re.compile(r"/invites/([A-Za-z0-9_-]{20,})")
TEAMS = "/api/v1/teams"


def mix(topics: Sequence[str], member: int) -> dict[str, str]:
    """Member `member`'s statuses: every tenth never started, one in twenty-five finished
    (a few topics skipped), the rest done with a share of the roadmap in order (now and
    then a topic skipped on the way, or taken out of order), one to three topics learning."""
    rng = random.Random(member)
    if member % 10 == 9:
        return {}
    order = list(topics)
    for _ in range(rng.randrange(4)):  # a few topics taken out of order
        i, j = rng.randrange(len(order)), rng.randrange(len(order))
        order[i], order[j] = order[j], order[i]
    if member % 25 == 3:
        return {t: "skipped" if rng.random() < 0.1 else "done" for t in order}
    finished = rng.randrange(len(order) - 3)
    statuses = {t: "skipped" if rng.random() < 0.08 else "done" for t in order[:finished]}
    learning = order[finished : finished + 1 + rng.randrange(3)]
    return statuses | dict.fromkeys(learning, "learning")


def _json(method: str, path: str, token: str, body: Any) -> Request:
    return Request(
        path,
        method=method,
        headers=bearer(token, **{"content-type": "application/json"}),
        body=json.dumps(body).encode(),
    )


def _call(ctx: AppContext, request: Request, expect: int) -> Response:
    resp = fetch(ctx.port, request)
    if resp.status != expect:
        raise RuntimeError(
            f"{request.method} {request.path} answered {resp.status}: {resp.body[:300]!r}"
        )
    return resp


def _invite_tokens(mail_dir: Path, emails: Sequence[str], timeout: float = 60.0) -> dict[str, str]:
    """The token of the invite the app mailed to each of `emails` (the newest, should there
    be several), once the outbox relay has sent them all."""
    wanted, found = set(emails), {}
    parser = BytesParser(policy=policy.default)
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(mail_dir.glob("[!.]*.eml")) if mail_dir.exists() else []:
            message = parser.parsebytes(path.read_bytes())
            if message["To"] in wanted and message["Subject"] == INVITE_SUBJECT:
                body = message.get_body(preferencelist=("plain",))
                match = _INVITE_LINK.search(str(body.get_content()) if body else "")
                if match:
                    found[str(message["To"])] = match.group(1)
        if wanted <= found.keys():
            return {email: found[email] for email in emails}
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(wanted - found.keys())} invites not mailed in {timeout} s")
        time.sleep(0.2)


def _an_hour_later(ctx: AppContext) -> None:
    """Empty the invite buckets (team and inviter), as an hour's wait would."""
    with Redis.from_url(str(ctx.redis_url)) as client:
        keys = list(client.scan_iter(match=f"{ctx.redis_prefix}*team-invite-*"))
        if not keys:
            raise RuntimeError("no invite buckets in Redis: the rate limiter's keys changed")
        client.delete(*keys)


def build_team(ctx: AppContext, people: list[tuple[str, str]]) -> str:
    """The team of `people` (email, token), made through the API: the first is its owner,
    the second a manager, the rest members, joined in that order. Returns its id."""
    (_, owner), invitees = people[0], people[1:]
    team = _call(ctx, _json("POST", TEAMS, owner, {"name": TEAM_NAME}), 201).json()["id"]
    _call(ctx, _json("PUT", f"{TEAMS}/{team}/roadmaps/{ROADMAP_SLUG}", owner, {}), 200)
    mail_dir = ctx.workdir / "var" / "mail"
    for start in range(0, len(invitees), INVITE_BATCH):
        batch = invitees[start : start + INVITE_BATCH]
        for number, (email, _token) in enumerate(batch, start=start):
            role = "manager" if number == 0 else "member"
            invite = {"email": email, "role": role}
            _call(ctx, _json("POST", f"{TEAMS}/{team}/invites", owner, invite), 201)
        tokens = _invite_tokens(mail_dir, [email for email, _ in batch])
        for email, token in batch:
            _call(ctx, _json("POST", f"/api/v1/invites/{tokens[email]}/accept", token, {}), 200)
        _an_hour_later(ctx)
    return str(team)


def _view(team: str, token: str) -> Request:
    return Request(f"{TEAMS}/{team}/progress/{ROADMAP_SLUG}", headers=bearer(token))


def lengthen(ctx: AppContext, token: str, statuses: dict[str, str], changes: int) -> None:
    """At least `changes` more changes to a member's history that end where they began:
    passes over their topics, each moving every one a status on round `CYCLE` (a real
    change each time), three passes going round once."""
    rounds = math.ceil(changes / (len(CYCLE) * len(statuses)))
    for step in range(1, len(CYCLE) * rounds + 1):
        moved = {t: CYCLE[(CYCLE.index(s) + step) % len(CYCLE)] for t, s in statuses.items()}
        set_statuses(ctx, token, moved)


async def _vacuum(database_url: str) -> None:
    """`VACUUM (ANALYZE)` the bench database: the dead row versions that the setup's changes
    left in the read models gone, and fresh statistics, as autovacuum would have them soon
    after. Measured without it, right after `team-progress-long`'s 55,000 changes, both
    servers spent about 15 % more CPU per report (the ratio did not move): a burst of writes
    not yet vacuumed, which is not what the scenarios compare."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


TEAM_NAME = "Backend guild"


def _existing_team(ctx: AppContext, owner: str) -> str | None:
    """The id of the team `build_team` made for this owner earlier in the run, if any."""
    mine = _call(ctx, Request(TEAMS, headers=bearer(owner)), 200).json()
    return next((str(team["id"]) for team in mine if team["name"] == TEAM_NAME), None)


def prepare_team(ctx: AppContext, *, first_client: int, longer_by: int = 0) -> Workload:
    """The team of `MEMBERS` (accounts `bench-team-{n}`, logged in from `first_client` on,
    the two refused tokens from the next two addresses after them) with their statuses.
    With `longer_by`, the team `team-progress` measured if it ran before in this run (else
    one made anew), each started member's history then that many changes longer."""
    roadmap = roadmap_json(ctx)
    topics = topic_ids(roadmap)
    emails = [f"bench-team-{number}@example.org" for number in range(MEMBERS)]
    create_accounts(ctx, emails, PASSWORD)
    people = [
        (email, login(ctx, email, PASSWORD, first_client + number))
        for number, email in enumerate(emails)
    ]
    finals = [mix(topics, number) for number in range(MEMBERS)]
    team = _existing_team(ctx, people[0][1]) if longer_by else None
    if team is None:
        team = build_team(ctx, people)
        for (_email, token), statuses in zip(people, finals, strict=True):
            if statuses:
                set_statuses(ctx, token, dict.fromkeys(statuses, "learning"))
                set_statuses(ctx, token, statuses)
    if longer_by:
        started = [(token, f) for (_email, token), f in zip(people, finals, strict=True) if f]
        with ThreadPoolExecutor(max_workers=8) as pool:  # members side by side
            list(pool.map(lambda m: lengthen(ctx, m[0], m[1], longer_by), started))
    asyncio.run(_vacuum(ctx.database_url))
    manager_email, manager = people[1]
    sample = _call(ctx, _view(team, manager), 200)
    if len(sample.json()["members"]) != MEMBERS:
        raise RuntimeError(f"the team has {len(sample.json()['members'])} members")
    clients = (first_client + MEMBERS, first_client + MEMBERS + 1)
    return Workload(
        requests=[_view(team, manager)],
        expect_status=200,
        same_body=True,
        refused=refused(ctx, manager_email, PASSWORD, clients, lambda token: _view(team, token)),
        limit_config={"roadmap": roadmap, **signed_in_config(ctx, sample, manager)},
    )


def prepare(ctx: AppContext) -> Workload:
    return prepare_team(ctx, first_client=FIRST_CLIENT)


SCENARIO = Scenario(
    name="team-progress",
    summary=f"GET {TEAMS}/{{id}}/progress/{ROADMAP_SLUG} by the team's manager, 200 members",
    limit_app="bench.limits.raw_team_progress:app",
    limit_summary="raw ASGI doing the app's work: the caller as auth-me's limit (token once, "
    "family with one HMGET), then the app's own statements with asyncpg on one pooled "
    "connection (account, standing, assignment, members, progress rows, topic tallies, "
    "accounts), the answer computed from the rows and the roadmap in memory, encoded with "
    "the app's msgspec Structs",
    prepare=prepare,
    profiles=("production",),
    # First measure (2026-12-01, smoke runs): 0.26-0.35, the app at ~12 ms of CPU a report
    # (SQLAlchemy rendering three 200-id IN lists, ~700 rows through its Row objects). With
    # the report's reads on the driver, on one connection: 0.56 at 64 connections (README).
    targets=(Target(min_ratio=0.4, connections=64),),
)
