"""Webhooks on SQLite and PostgreSQL, end to end: the app's own outbox relay posts through
the SSRF-safe fetcher to a real HTTP receiver started by the test on 127.0.0.1 (let through by
`WAYMARK_FETCH__ALLOWED_NETWORKS`, which production refuses). The receiver checks signatures
with the verifier of docs/webhooks.md, run as a customer would run it: a replayed (old) or
re-signed (tampered) body is refused; a rotation keeps both secrets valid for its window;
failures are retried, then turn the endpoint off and mail the team's admins; a logged
delivery is sent again; only admins manage endpoints; unsafe URLs are refused."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import insert, update

from tests.auth_helpers import PASSWORD, Client, bearer, login_tokens, mails, settle_outbox
from tests.config import app_settings
from tests.fetch_support import Listener, Received, listening
from tests.integration.progress_support import TOPICS
from tests.integration.teams_support import TEAMS, Person, seed_team
from waymark.features.accounts.tables import users
from waymark.features.webhooks.delivering import Delivering
from waymark.features.webhooks.tables import webhook_endpoints
from waymark.infra.outbox import Outbox
from waymark.infra.security.passwords import Argon2Parameters, PasswordHasher
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock, utcnow
from waymark.settings import FetchSettings, OutboxSettings, Settings, WebhookSettings

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"
DISABLED_MAIL = "A webhook of your team was turned off on Waymark"
Verify = Callable[..., bool]


def customer_verifier() -> Verify:
    """The `verify` of docs/webhooks.md's snippet, executed as it stands."""
    (snippet,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    scope: dict[str, Any] = {}
    exec(compile(snippet, str(DOC), "exec"), scope)  # noqa: S102 - our own documentation
    verify: Verify = scope["verify"]
    return verify


verify = customer_verifier()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        fetch=FetchSettings(allow_http=True, allowed_networks=["127.0.0.1/32"], timeout=3),
        webhooks=WebhookSettings(disable_after_failures=3),
        outbox=OutboxSettings(
            poll_interval=0.05, backoff_base=0.05, backoff_cap=0.1, max_attempts=2
        ),
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Listener]:
    async with listening(Listener()) as listener:
        yield listener


async def seeded_person(client: Client, db: Database, email: str) -> Person:
    """A confirmed account written straight to the database (no sign-up and mail round
    trip: a second each), signed in through the API with its password."""
    account_id = uuid.uuid4()
    password_hash = await HASHER.hash(PASSWORD)
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(
            insert(users).values(
                id=account_id,
                email=email,
                password_hash=password_hash,
                email_verified_at=now,
                tokens_valid_after=now - timedelta(minutes=1),
                created_at=now,
                updated_at=now,
            )
        )
    return Person(email=email, id=account_id, auth=bearer(await login_tokens(client, email)))


HASHER = PasswordHasher(Argon2Parameters(memory_cost=64, time_cost=1))


@pytest.fixture
async def crew(client: Client, db: Database) -> dict[str, Any]:
    """An owner, an admin, a manager and a member of the team "Guild", and an outsider."""
    people = {
        name: await seeded_person(client, db, f"{name}@example.org")
        for name in ("owner", "admin", "manager", "member", "outsider")
    }
    team_id = uuid.uuid4()
    roles = {"owner": "owner", "admin": "admin", "manager": "manager", "member": "member"}
    await seed_team(
        db, team_id, {people[n].id: r for n, r in roles.items()}, name="Guild", roadmap=None
    )
    return {**people, "team": f"{TEAMS}/{team_id}"}


async def subscribe(
    client: Client, team: str, by: Person, url: str, events: list[str]
) -> dict[str, Any]:
    made = await client.post(
        f"{team}/webhooks", json={"url": url, "events": events}, headers=by.auth
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    assert body["secret"].startswith("whsec_")
    return body


async def log_of(client: Client, team: str, by: Person, webhook_id: str) -> list[dict[str, Any]]:
    found = await client.get(f"{team}/webhooks/{webhook_id}/deliveries", headers=by.auth)
    assert found.status_code == 200, found.text
    deliveries: list[dict[str, Any]] = found.json()
    return deliveries


async def test_a_team_event_is_delivered_signed_and_a_customer_verifier_holds(
    client: Client, db: Database, crew: dict[str, Any], receiver: Listener
) -> None:
    team, admin = crew["team"], crew["admin"]
    made = await subscribe(client, team, admin, f"{receiver.url}/hook", ["teams.invited"])
    secret, hook = made["secret"], made["webhook"]
    other = await subscribe(client, team, admin, f"{receiver.url}/m", ["teams.membership-changed"])
    invited = await client.post(
        f"{team}/invites", json={"email": "new@example.org", "role": "member"}, headers=admin.auth
    )
    assert invited.status_code == 201, invited.text
    await settle_outbox(client, db)

    (got,) = receiver.requests  # not to the endpoint that did not take `teams.invited`
    assert got.method == "POST"
    assert got.path == "/hook"
    assert got.headers["waymark-event"] == "teams.invited"
    body = msgspec.json.decode(got.body)
    assert body["type"] == "teams.invited"
    assert body["team_id"] == team.rsplit("/", 1)[1]
    assert body["data"]["email"] == "new@example.org"
    header = got.headers["waymark-signature"]
    assert verify([secret], header, got.body)
    # A re-signed (tampered) body, a wrong secret, and a replay past five minutes fail.
    assert not verify([secret], header, got.body.replace(b"new@", b"evil@"))
    assert not verify(["whsec_not-it"], header, got.body)
    assert not verify([secret], header, got.body, now=time.time() + 301)
    forged_t = re.sub(r"t=\d+", f"t={int(time.time()) + 1}", header)
    assert not verify([secret], forged_t, got.body)

    (logged,) = await log_of(client, team, admin, hook["id"])
    assert logged["id"] == got.headers["waymark-delivery"]
    assert logged["event_id"] == body["id"]
    assert logged["state"] == "succeeded"
    assert logged["attempts"] == 1
    assert logged["response_status"] == 200
    assert logged["response_excerpt"] == "ok"
    assert logged["latency_ms"] >= 0
    # The secret is never read back.
    listed = await client.get(f"{team}/webhooks", headers=admin.auth)
    assert listed.status_code == 200
    assert secret not in listed.text
    assert [w["id"] for w in listed.json()] == [hook["id"], other["webhook"]["id"]]

    # A member leaving: to the other endpoint only, signed with its own secret.
    left = await client.post(f"{team}/leave", headers=crew["member"].auth)
    assert left.status_code == 204, left.text
    await settle_outbox(client, db)
    assert len(receiver.requests) == 2
    got = receiver.requests[1]
    assert got.path == "/m"
    assert verify([other["secret"]], got.headers["waymark-signature"], got.body)
    assert not verify([secret], got.headers["waymark-signature"], got.body)
    body = msgspec.json.decode(got.body)
    assert body["type"] == "teams.membership-changed"
    assert body["data"]["change"] == "left"
    assert body["data"]["account_id"] == str(crew["member"].id)


@pytest.mark.usefixtures("backend_roadmap")
async def test_a_members_progress_on_a_followed_roadmap_reaches_the_team(
    client: Client, db: Database, crew: dict[str, Any], receiver: Listener
) -> None:
    team_id = uuid.UUID(crew["team"].rsplit("/", 1)[1])
    member, admin = crew["member"], crew["admin"]
    roles = {crew["owner"].id: "owner", admin.id: "admin", member.id: "member"}
    await seed_team(db, team_id, roles, name="Guild", roadmap="backend")
    made = await subscribe(
        client, crew["team"], admin, f"{receiver.url}/p", ["progress.topic_status_changed"]
    )
    topic = TOPICS[0]
    moved = await client.put(
        f"/api/v1/me/progress/backend/topics/{topic}",
        json={"status": "learning"},
        headers=member.auth,
    )
    assert moved.status_code == 200, moved.text
    outsider = crew["outsider"].auth  # follows the roadmap too, in no team of ours
    await client.put(
        f"/api/v1/me/progress/backend/topics/{topic}", json={"status": "done"}, headers=outsider
    )
    await settle_outbox(client, db)
    (got,) = receiver.requests
    assert verify([made["secret"]], got.headers["waymark-signature"], got.body)
    body = msgspec.json.decode(got.body)
    assert body["type"] == "progress.topic_status_changed"
    assert body["team_id"] == str(team_id)
    assert body["data"]["account_id"] == str(member.id)
    assert body["data"]["topic_id"] == topic
    assert body["data"]["to_status"] == "learning"


async def test_rotation_signs_with_both_secrets_for_its_window_then_the_new_one(
    client: Client, db: Database, crew: dict[str, Any], receiver: Listener
) -> None:
    team, admin = crew["team"], crew["admin"]
    made = await subscribe(client, team, admin, f"{receiver.url}/r", ["teams.invited"])
    old, hook = made["secret"], made["webhook"]["id"]
    rotated = await client.post(
        f"{team}/webhooks/{hook}/rotate", json={"keep_previous_hours": 1}, headers=admin.auth
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old
    assert rotated.json()["webhook"]["previous_secret_expires_at"] is not None

    pinged = await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
    assert pinged.status_code == 202, pinged.text
    await settle_outbox(client, db)
    (during,) = receiver.requests
    header = during.headers["waymark-signature"]
    assert header.count("v1=") == 2
    assert verify([old], header, during.body)  # a receiver not yet switched
    assert verify([new], header, during.body)  # and one that has
    assert msgspec.json.decode(during.body)["type"] == "ping"

    client.app.state.container.clock.offset += 3601  # the window is over
    auth = bearer(await login_tokens(client, admin.email))  # the access token expired too
    assert (await client.post(f"{team}/webhooks/{hook}/ping", headers=auth)).status_code == 202
    await settle_outbox(client, db)
    after = receiver.requests[1]
    header = after.headers["waymark-signature"]
    sent_at = float(header.split(",")[0].removeprefix("t="))
    assert header.count("v1=") == 1
    assert verify([new], header, after.body, now=sent_at)
    assert not verify([old], header, after.body, now=sent_at)

    # Housekeeping: finished deliveries leave the log once its retention is over.
    keeper = Delivering(
        db=db,
        clock=Clock(),
        throttle=None,  # type: ignore[arg-type]  (housekeeping sends and limits nothing)
        outbox=Outbox(),
        teams=None,  # type: ignore[arg-type]
        fetcher=None,  # type: ignore[arg-type]
        public_url="",
        disable_after=3,
        retention=timedelta(days=30),
        box=SecretBox.generate(),
    )
    assert await keeper.delete_old(utcnow() + timedelta(days=29)) == 0
    assert await keeper.delete_old(utcnow() + timedelta(days=31)) == 2
    again = Person(email=admin.email, id=admin.id, auth=auth)
    assert await log_of(client, team, again, hook) == []


async def test_failures_are_retried_then_the_endpoint_is_turned_off_and_admins_mailed(
    client: Client, db: Database, crew: dict[str, Any], mail_dir: Path
) -> None:
    """Two attempts per delivery (the outbox's max), three failures in a row turn it off."""
    team, admin = crew["team"], crew["admin"]
    status = {"code": 500}

    def answer(_: Received) -> tuple[int, dict[str, str], bytes]:
        return status["code"], {}, b"down for maintenance"

    async with listening(Listener(answer=answer)) as failing:
        made = await subscribe(client, team, admin, f"{failing.url}/f", ["teams.invited"])
        hook = made["webhook"]["id"]
        await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
        await settle_outbox(client, db)
        assert len(failing.requests) == 2  # the first try and one retry
        (first,) = await log_of(client, team, admin, hook)
        assert first["state"] == "failed"
        assert first["attempts"] == 2
        assert first["response_status"] == 500
        assert first["response_excerpt"] == "down for maintenance"
        assert (await client.get(f"{team}/webhooks/{hook}", headers=admin.auth)).json()["enabled"]
        assert mails(mail_dir, "admin@example.org", DISABLED_MAIL) == []

        await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
        await settle_outbox(client, db)
        assert len(failing.requests) == 3  # the third failure in a row turns it off
        state = (await client.get(f"{team}/webhooks/{hook}", headers=admin.auth)).json()
        assert state["enabled"] is False
        assert state["failures"] == 3
        assert state["disabled_reason"] == "answered 500"
        for address in ("owner@example.org", "admin@example.org"):
            assert len(mails(mail_dir, address, DISABLED_MAIL)) == 1
        for address in ("manager@example.org", "member@example.org"):
            assert mails(mail_dir, address, DISABLED_MAIL) == []

        refused = await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
        assert refused.status_code == 409
        assert refused.json()["code"] == "webhook-disabled"
        again = f"{team}/webhooks/{hook}/deliveries/{first['id']}/redeliver"
        assert (await client.post(again, headers=admin.auth)).status_code == 409

        # Turned back on, the first delivery is sent again: same event and body.
        status["code"] = 204
        on = await client.patch(
            f"{team}/webhooks/{hook}", json={"enabled": True}, headers=admin.auth
        )
        assert on.status_code == 200, on.text
        assert on.json()["failures"] == 0
        redone = await client.post(again, headers=admin.auth)
        assert redone.status_code == 202, redone.text
        await settle_outbox(client, db)
        assert failing.requests[-1].body == failing.requests[0].body
        newest = (await log_of(client, team, admin, hook))[0]
        assert newest["redelivery_of"] == first["id"]
        assert newest["event_id"] == first["event_id"]
        assert newest["state"] == "succeeded"
        assert newest["response_status"] == 204


async def test_only_admins_and_the_owner_manage_webhooks(
    client: Client, crew: dict[str, Any], receiver: Listener
) -> None:
    team = crew["team"]
    body = {"url": f"{receiver.url}/a", "events": ["teams.invited"]}
    for name in ("member", "manager"):
        refused = await client.post(f"{team}/webhooks", json=body, headers=crew[name].auth)
        assert refused.status_code == 403, name
        assert (await client.get(f"{team}/webhooks", headers=crew[name].auth)).status_code == 403
    outside = await client.post(f"{team}/webhooks", json=body, headers=crew["outsider"].auth)
    assert outside.status_code == 404
    made = await subscribe(client, team, crew["owner"], body["url"], body["events"])
    hook = f"{team}/webhooks/{made['webhook']['id']}"
    for name, code in (("member", 403), ("manager", 403), ("outsider", 404)):
        who = crew[name].auth
        assert (await client.get(hook, headers=who)).status_code == code, name
        assert (await client.post(f"{hook}/ping", headers=who)).status_code == code, name
        assert (await client.post(f"{hook}/rotate", json={}, headers=who)).status_code == code
        assert (await client.delete(hook, headers=who)).status_code == code, name
    # Another team's endpoint through this team's path: not found.
    other = await client.post(TEAMS, json={"name": "Other"}, headers=crew["outsider"].auth)
    theirs = f"{TEAMS}/{other.json()['id']}/webhooks/{made['webhook']['id']}"
    assert (await client.get(theirs, headers=crew["outsider"].auth)).status_code == 404
    assert (await client.delete(hook, headers=crew["admin"].auth)).status_code == 204
    assert receiver.connections == 0


UNSAFE = [
    ("http://10.0.0.1/hook", "unsafe-url"),
    ("http://169.254.169.254/latest/meta-data/", "unsafe-url"),
    ("http://127.0.0.2:9/x", "unsafe-url"),  # loopback outside the allowed network
    ("http://[::ffff:127.0.0.2]:9/x", "unsafe-url"),
    ("http://2130706434:9/x", "unsafe-url"),
    ("http://user:pw@127.0.0.1:9/x", "unsafe-url"),
    ("ftp://example.org/x", "validation-failed"),
]


@pytest.mark.backend("sqlite")  # no database difference: the fetcher's check
async def test_unsafe_urls_are_refused_when_saved(client: Client, crew: dict[str, Any]) -> None:
    team, admin = crew["team"], crew["admin"]
    for url, code in UNSAFE:
        refused = await client.post(
            f"{team}/webhooks", json={"url": url, "events": ["teams.invited"]}, headers=admin.auth
        )
        assert refused.status_code == 422, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == code, url
        assert "127.0.0" not in refused.text  # which address was refused stays unsaid
    listed = await client.get(f"{team}/webhooks", headers=admin.auth)
    assert listed.json() == []


@pytest.mark.backend("sqlite")  # the limiter's stores have their own contract suite
async def test_creation_is_rate_limited_per_team(
    client: Client, crew: dict[str, Any], receiver: Listener
) -> None:
    team, admin = crew["team"], crew["admin"]
    for _ in range(10):
        made = await subscribe(client, team, admin, f"{receiver.url}/l", ["teams.invited"])
        gone = await client.delete(f"{team}/webhooks/{made['webhook']['id']}", headers=admin.auth)
        assert gone.status_code == 204
    limited = await client.post(
        f"{team}/webhooks",
        json={"url": f"{receiver.url}/l", "events": ["teams.invited"]},
        headers=crew["owner"].auth,
    )
    assert limited.status_code == 429
    assert limited.headers["retry-after"]
    assert limited.json()["code"] == "rate-limited"


@pytest.mark.backend("sqlite")  # the fetcher's check, at delivery time
async def test_a_url_that_turns_internal_is_refused_at_delivery_and_the_log_says_no_more(
    client: Client, db: Database, crew: dict[str, Any], receiver: Listener
) -> None:
    """Saved while it was allowed, the endpoint's URL now names an address outside the
    allowed network (as a name re-pointed inward would): nothing reaches the canary there,
    and the log tells the team it was refused, not which address it found."""
    team, admin = crew["team"], crew["admin"]
    made = await subscribe(client, team, admin, f"{receiver.url}/ok", ["teams.invited"])
    hook = made["webhook"]["id"]
    async with listening(Listener(host="127.0.0.2")) as canary:
        async with db.transaction() as conn:
            await conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == uuid.UUID(hook))
                .values(url=f"{canary.url}/in")
            )
        assert (
            await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
        ).status_code == 202
        await settle_outbox(client, db)
        assert canary.connections == 0
    (logged,) = await log_of(client, team, admin, hook)
    assert logged["state"] == "failed"
    assert logged["error"].startswith("refused")
    assert "127.0.0" not in logged["error"]
    assert receiver.connections == 0
