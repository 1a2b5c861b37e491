"""The identity journeys end to end, in-process, on SQLite and PostgreSQL (SQL stores)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from tests.auth_helpers import (
    ACCOUNT_EXISTS,
    PASSWORD,
    PASSWORD_CHANGED,
    RESET,
    VERIFY,
    Client,
    bearer,
    login_tokens,
    register_verified,
    settle_outbox,
    token_in,
    wait_for_mail,
)
from tests.config import app_settings
from waymark.app import create_app
from waymark.container import Container
from waymark.features.accounts.messages import (
    SIGNED_OUT_EVERYWHERE,
    SignedOutEverywhere,
    queue_account_mail,
)
from waymark.features.auth.jobs import SessionJobs
from waymark.infra.outbox import OutboxMessage
from waymark.infra.sql.database import Database
from waymark.kernel.errors import ServiceUnavailable
from waymark.kernel.identity import ClientInfo
from waymark.settings import DatabaseSettings, LogSettings, Settings


async def test_register_verify_login_refresh_replay_revokes_family(
    client: Client, mail_dir: Path
) -> None:
    email = "ada@example.org"
    await register_verified(client, mail_dir, email)
    tokens = await login_tokens(client, email)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600

    me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["email_verified"] is True
    assert me.headers["cache-control"] == "no-store"
    assert "password" not in me.text

    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != tokens["refresh_token"]
    assert (await client.get("/api/v1/me", headers=bearer(second))).status_code == 200

    client.app.state.container.clock.offset += 10  # past the 5 s grace window
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid-token"
    # The whole family is gone: the successor and its access token no longer work.
    dead = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert dead.status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(second))).status_code == 401

    fresh = await login_tokens(client, email)
    kinds = [
        e["kind"] for e in (await client.get("/api/v1/me/audit", headers=bearer(fresh))).json()
    ]
    assert "refresh.reused" in kinds
    assert "login.succeeded" in kinds
    assert "email.verified" in kinds


async def test_unverified_accounts_cannot_log_in(client: Client, mail_dir: Path) -> None:
    email = "bob@example.org"
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert response.json()["code"] == "email-not-verified"


async def test_register_answers_the_same_for_taken_addresses(
    client: Client, mail_dir: Path, db: Database
) -> None:
    email = "carol@example.org"
    first = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    await client.post(
        "/api/v1/auth/verify-email",
        json={"token": token_in(await wait_for_mail(mail_dir, email)), "password": PASSWORD},
    )
    again = await client.post(
        "/api/v1/auth/register",
        json={"email": email.upper(), "password": "another good passphrase"},
    )
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    # The owner hears of the second attempt, once a day however many there are.
    notice = await wait_for_mail(mail_dir, email, ACCOUNT_EXISTS)
    assert "/forgot-password" in str(notice.get_body(preferencelist=("plain",)))
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    await settle_outbox(client, db)
    assert len(list(mail_dir.glob("[!.]*.eml"))) == 2
    # No second account, and the first one's password stands.
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "another good passphrase"}
    )
    assert wrong.json()["code"] == "invalid-credentials"
    await login_tokens(client, email)


async def test_register_forgot_and_resend_do_the_same_work_for_any_address(
    client: Client, mail_dir: Path, db: Database
) -> None:
    """Structurally, not by timing: for an address with an account and one without, the
    request path runs the very same SQL statements (the answer is the same too, see above);
    what to mail is worked out afterwards by the outbox handler."""
    known = "dee@example.org"
    await register_verified(client, mail_dir, known)
    accounts = client.app.state.container.accounts

    async def statements(work: Any) -> list[str]:
        seen: list[str] = []

        def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(statement)

        async with db.transaction() as conn:  # the test's own pool, on the test's loop
            sync = conn.sync_connection
            assert sync is not None
            event.listen(sync, "before_cursor_execute", on_execute)
            await work(conn)
            event.remove(sync, "before_cursor_execute", on_execute)
        return seen

    outbox = client.app.state.container.outbox
    for purpose in ("reset-password", "verify-email"):
        paths = [
            await statements(
                lambda c, e=email, p=purpose: queue_account_mail(outbox, c, email=e, purpose=p)
            )
            for email in (known, "nobody@example.org")
        ]
        assert paths[0] == paths[1]
        assert len(paths[0]) == 1
    registered = [
        await statements(
            lambda c, e=email: accounts.registration.sign_up(
                c, email=e, password_hash="x", display_name="", client=ClientInfo()
            )
        )
        for email in (known, "newcomer@example.org")
    ]
    assert registered[0] == registered[1]
    assert len(registered[0]) == 4  # upsert, select, the outbox message, the audit row


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 8"), ("password1", "common"), ("carol@example.org", "email")],
)
async def test_weak_passwords_are_refused(client: Client, password: str, message: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "carol@example.org", "password": password}
    )
    assert response.status_code == 422
    assert message in response.json()["errors"][0]["message"]


async def test_login_failures_look_the_same_for_unknown_and_known_accounts(
    client: Client, mail_dir: Path
) -> None:
    await register_verified(client, mail_dir, "dan@example.org")
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "dan@example.org", "password": "not the password"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.org", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(wrong) == strip(unknown)


async def test_unknown_account_login_runs_a_real_dummy_verification(client: Client) -> None:
    hasher = client.app.state.container.hasher
    calls: list[str] = []
    original = hasher.verify_dummy

    async def counting(password: str):  # type: ignore[no-untyped-def]
        calls.append(password)
        return await original(password)

    hasher.verify_dummy = counting
    response = await client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.org", "password": "whatever it is"}
    )
    assert response.status_code == 401
    assert calls == ["whatever it is"]


async def test_browser_session_cookie_and_csrf(client: Client, mail_dir: Path) -> None:
    email = "erin@example.org"
    await register_verified(client, mail_dir, email)
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "session"}
    )
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert cookie.startswith("__Host-waymark_session=")
    for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute.lower() in cookie.lower()
    assert "domain" not in cookie.lower()
    csrf = login.json()["csrf_token"]
    session_id = cookie.split(";")[0].split("=", 1)[1]
    # Sent by hand: the test client speaks plain HTTP, where a jar never returns a Secure cookie.
    cookies = {"cookie": f"__Host-waymark_session={session_id}"}

    assert (await client.get("/api/v1/me", headers=cookies)).status_code == 200
    no_csrf = await client.patch("/api/v1/me", json={"display_name": "Erin"}, headers=cookies)
    assert no_csrf.status_code == 403
    assert no_csrf.json()["code"] == "csrf-failed"
    ok = await client.patch(
        "/api/v1/me", json={"display_name": "Erin"}, headers=cookies | {"x-csrf-token": csrf}
    )
    assert ok.status_code == 200
    assert ok.json()["display_name"] == "Erin"

    out = await client.post("/api/v1/auth/logout", headers=cookies | {"x-csrf-token": csrf})
    assert out.status_code == 204
    assert (await client.get("/api/v1/me", headers=cookies)).status_code == 401


async def test_sessions_are_listed_and_revocable(client: Client, mail_dir: Path) -> None:
    email = "fay@example.org"
    await register_verified(client, mail_dir, email)
    laptop = await login_tokens(client, email)
    phone = await login_tokens(client, email)
    listed = (await client.get("/api/v1/me/sessions", headers=bearer(laptop))).json()
    assert len(listed) == 2
    assert sum(s["current"] for s in listed) == 1
    other = next(s for s in listed if not s["current"])
    assert (
        await client.delete(f"/api/v1/me/sessions/{other['id']}", headers=bearer(laptop))
    ).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(laptop))).status_code == 200
    missing = await client.delete("/api/v1/me/sessions/f:0123456789abcdef", headers=bearer(laptop))
    assert missing.status_code == 404


async def test_logout_all_and_password_change_end_access_tokens_at_once(
    client: Client, mail_dir: Path
) -> None:
    email = "gus@example.org"
    await register_verified(client, mail_dir, email)
    one, two = await login_tokens(client, email), await login_tokens(client, email)
    change = await client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "an even better passphrase"},
        headers=bearer(one),
    )
    assert change.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(two))).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(one))).status_code == 200  # kept
    assert (await client.post("/api/v1/auth/logout-all", headers=bearer(one))).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(one))).status_code == 401
    await wait_for_mail(mail_dir, email, PASSWORD_CHANGED)


async def test_forgot_and_reset_password(client: Client, mail_dir: Path) -> None:
    email = "hal@example.org"
    await register_verified(client, mail_dir, email)
    session = await login_tokens(client, email)
    known = await client.post("/api/v1/auth/password/forgot", json={"email": email})
    unknown = await client.post("/api/v1/auth/password/forgot", json={"email": "nope@example.org"})
    assert (
        (known.status_code, known.json())
        == (unknown.status_code, unknown.json())
        == (202, known.json())
    )
    token = token_in(await wait_for_mail(mail_dir, email, RESET))
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "brand new passphrase"}
    )
    assert reset.status_code == 204, reset.text
    again = await client.post(
        "/api/v1/auth/password/reset",
        json={"token": token, "new_password": "another new passphrase"},
    )
    assert again.status_code == 400
    assert again.json()["code"] == "invalid-email-token"
    assert (await client.get("/api/v1/me", headers=bearer(session))).status_code == 401
    await login_tokens(client, email, "brand new passphrase")


async def test_login_is_throttled_per_account_and_ip(client: Client, mail_dir: Path) -> None:
    email = "ivy@example.org"
    await register_verified(client, mail_dir, email)
    statuses = []
    for _ in range(6):
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong guess!"}
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-policy"] == '"login-account-ip";q=5;w=300'
    assert response.headers["ratelimit"].startswith('"login-account-ip";r=0;t=')
    assert response.json()["code"] == "rate-limited"


def peers_from_header(app: Litestar) -> None:
    """Let a request name the network peer it comes from (`x-test-peer`), as a socket would
    give it: the test client's own peer is always `testclient`."""
    inner = app.asgi_handler

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        peer = dict(scope.get("headers", [])).get(b"x-test-peer")
        if peer is not None:
            scope = {**scope, "client": (peer.decode(), 40000)}
        await inner(scope, receive, send)

    app.asgi_handler = handler


@pytest.mark.parametrize(
    ("path", "subject", "verified"),
    [
        ("/api/v1/auth/password/forgot", RESET, True),
        ("/api/v1/auth/verify-email/resend", VERIFY, False),
    ],
)
async def test_nobody_elsewhere_can_keep_an_owner_from_their_mail(
    client: Client, mail_dir: Path, path: str, subject: str, verified: bool
) -> None:
    """Reset and confirmation mails are limited per address *and* IP, plus per IP: an
    attacker who spends every limit they can reach leaves the owner's own untouched."""
    owner = "uma@example.org"
    if verified:
        await register_verified(client, mail_dir, owner)
    else:
        await client.post("/api/v1/auth/register", json={"email": owner, "password": PASSWORD})
    peers_from_header(client.app)
    attacker, me = {"x-test-peer": "203.0.113.7"}, {"x-test-peer": "198.51.100.4"}
    for address in [owner] * 4 + [f"x{n}@example.org" for n in range(10)]:
        answered = await client.post(path, json={"email": address}, headers=attacker)
    assert answered.status_code == 429
    for address in (owner, "y@example.org"):  # per address and IP, and per IP: all spent
        refused = await client.post(path, json={"email": address}, headers=attacker)
        assert refused.status_code == 429

    mine = await client.post(path, json={"email": owner}, headers=me)
    assert mine.status_code == 202, mine.text
    # The attacker's 3 mails, then the owner's, whose link is the one that works.
    await wait_for_mail(mail_dir, owner, subject, count=4 if verified else 5)


async def test_delete_account_removes_it(client: Client, mail_dir: Path) -> None:
    email = "jo@example.org"
    await register_verified(client, mail_dir, email)
    tokens = await login_tokens(client, email)
    refused = await client.request(
        "DELETE", "/api/v1/me", json={"password": "not mine"}, headers=bearer(tokens)
    )
    assert refused.status_code == 403
    gone = await client.request(
        "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=bearer(tokens)
    )
    assert gone.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401


async def test_mass_assignment_and_wrong_content_type_are_refused(
    client: Client, mail_dir: Path
) -> None:
    email = "kim@example.org"
    await register_verified(client, mail_dir, email)
    tokens = await login_tokens(client, email)
    sneaky = await client.patch("/api/v1/me", json={"email": "admin@x.org"}, headers=bearer(tokens))
    assert sneaky.status_code == 422
    form = await client.post(
        "/api/v1/auth/login",
        content=f'{{"email": "{email}", "password": "{PASSWORD}"}}',
        headers={"content-type": "text/plain"},
    )
    assert form.status_code == 415


async def test_jwks_publishes_only_public_keys(client: Client) -> None:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)


async def test_no_request_holds_two_pooled_connections(database_url: str, tmp_path: Path) -> None:
    """A request that holds a pooled connection while it waits for another deadlocks the pool
    under load (the FastAPI template's stall). With a pool of one connection any such nesting
    fails even for a single request, so the whole journey must pass on one connection."""
    settings = app_settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        log=LogSettings(level="error", access=False),
        db=DatabaseSettings(pool_size=1, hot_pool_size=1, pool_timeout=2),
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        await register_verified(client, settings.var_dir / "mail", "pool@example.org")
        tokens = await login_tokens(client, "pool@example.org")
        auth = bearer(tokens)
        statuses = [
            (await client.get("/api/v1/me", headers=auth)).status_code,
            (await client.get("/api/v1/me/sessions", headers=auth)).status_code,
            (await client.get("/api/v1/me/audit", headers=auth)).status_code,
            (
                await client.post(
                    "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
                )
            ).status_code,
            (await client.post("/api/v1/auth/logout", headers=auth)).status_code,
        ]
    assert statuses == [200, 200, 200, 200, 204]


async def test_verification_can_be_resent_and_the_old_link_dies(
    client: Client, mail_dir: Path
) -> None:
    email = "nia@example.org"
    await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    first = token_in(await wait_for_mail(mail_dir, email))
    resent = await client.post("/api/v1/auth/verify-email/resend", json={"email": email})
    unknown = await client.post("/api/v1/auth/verify-email/resend", json={"email": "x@example.org"})
    assert (resent.status_code, resent.json()) == (unknown.status_code, unknown.json())
    assert resent.status_code == 202
    second = token_in(await wait_for_mail(mail_dir, email, count=2))
    assert second != first
    old = await client.post(
        "/api/v1/auth/verify-email", json={"token": first, "password": PASSWORD}
    )
    assert old.status_code == 400
    assert (
        await client.post("/api/v1/auth/verify-email", json={"token": second, "password": PASSWORD})
    ).status_code == 200
    statuses = [
        (await client.post("/api/v1/auth/verify-email/resend", json={"email": email})).status_code
        for _ in range(3)
    ]
    assert statuses[-1] == 429  # three an hour per address from one IP


async def test_disabling_an_account_ends_its_access_at_once(
    client: Client, mail_dir: Path, settings: Settings
) -> None:
    email = "oz@example.org"
    await register_verified(client, mail_dir, email)
    tokens = await login_tokens(client, email)
    operator = Container(settings)  # another process's, as `waymark users disable` is
    try:
        assert await operator.accounts.profiles.disable(email) is not None
    finally:
        await operator.aclose()
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401


async def test_no_pooled_connection_waits_on_argon2(client: Client, mail_dir: Path) -> None:
    """Every flow that hashes or verifies a password does it before or after its transaction,
    never inside: a connection held through ~30 ms of argon2 is a pool slot nobody else can
    use, and under a login flood the pool runs dry. Connections are traced per asyncio task
    (the outbox relay's own checkouts do not count)."""
    container = client.app.state.container
    pool = container.db.engine.sync_engine.pool
    owners: dict[int, asyncio.Task[Any] | None] = {}

    def checked_out(_dbapi: Any, record: Any, _proxy: Any) -> None:
        owners[id(record)] = asyncio.current_task()

    def checked_in(_dbapi: Any, record: Any) -> None:
        owners.pop(id(record), None)

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    hasher = container.hasher
    held_while_hashing: list[tuple[str, int]] = []

    def traced(name: str) -> Any:
        real = getattr(hasher, name)

        async def call(*args: Any) -> Any:
            mine = sum(1 for task in owners.values() if task is asyncio.current_task())
            held_while_hashing.append((name, mine))
            return await real(*args)

        return call

    for name in ("hash", "verify", "verify_dummy"):
        setattr(hasher, name, traced(name))
    try:
        email = "pia@example.org"
        await register_verified(client, mail_dir, email)
        tokens = await login_tokens(client, email)
        await client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.org", "password": "x" * 12}
        )
        changed = await client.post(
            "/api/v1/auth/password/change",
            json={"current_password": PASSWORD, "new_password": "a second passphrase"},
            headers=bearer(tokens),
        )
        assert changed.status_code == 204, changed.text
        moved = await client.post(
            "/api/v1/me/email",
            json={"new_email": "pia2@example.org", "password": "a second passphrase"},
            headers=bearer(tokens),
        )
        assert moved.status_code == 202, moved.text
        await client.post("/api/v1/auth/password/forgot", json={"email": email})
        token = token_in(await wait_for_mail(mail_dir, email, RESET))
        reset = await client.post(
            "/api/v1/auth/password/reset",
            json={"token": token, "new_password": "a third passphrase"},
        )
        assert reset.status_code == 204, reset.text
        tokens = await login_tokens(client, email, "a third passphrase")
        gone = await client.request(
            "DELETE", "/api/v1/me", json={"password": "a third passphrase"}, headers=bearer(tokens)
        )
        assert gone.status_code == 204, gone.text
    finally:
        event.remove(pool, "checkout", checked_out)
        event.remove(pool, "checkin", checked_in)
    names = {name for name, _ in held_while_hashing}
    assert names == {"hash", "verify", "verify_dummy"}
    assert (
        len(held_while_hashing) >= 9
    )  # register, 3 logins + 1 unknown, change x2, email, reset, delete
    assert [h for h in held_while_hashing if h[1]] == []


async def test_a_password_change_gives_the_browser_session_a_new_id(
    client: Client, mail_dir: Path
) -> None:
    """Re-authentication regenerates the session id and CSRF token (docs/security.md): the old
    ones, which an attacker may have planted or seen, stop working at once."""
    email = "quin@example.org"
    await register_verified(client, mail_dir, email)
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "session"}
    )
    old_csrf = login.json()["csrf_token"]
    old = {"cookie": login.headers["set-cookie"].split(";")[0]}
    client.app.state.container.clock.offset += 1500  # 25 minutes on
    changed = await client.post(
        "/api/v1/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "quite another passphrase"},
        headers=old | {"x-csrf-token": old_csrf},
    )
    assert changed.status_code == 204, changed.text
    cookie = changed.headers["set-cookie"]
    assert cookie.startswith("__Host-waymark_session=")
    max_age = int(cookie.lower().split("max-age=")[1].split(";")[0])
    assert 43200 - 1500 - 60 < max_age <= 43200 - 1500  # what is left of the 12 h
    csrf = changed.headers["x-csrf-token"]
    assert csrf != old_csrf
    new = {"cookie": cookie.split(";")[0]}
    assert new != old
    assert (await client.get("/api/v1/me", headers=old)).status_code == 401
    assert (await client.get("/api/v1/me", headers=new)).status_code == 200
    stale = await client.patch(
        "/api/v1/me", json={"display_name": "Quin"}, headers=new | {"x-csrf-token": old_csrf}
    )
    assert stale.status_code == 403
    renamed = await client.patch(
        "/api/v1/me", json={"display_name": "Quin"}, headers=new | {"x-csrf-token": csrf}
    )
    assert renamed.status_code == 200
    (listed,) = (await client.get("/api/v1/me/sessions", headers=new)).json()
    assert listed["current"] is True


async def test_failed_logins_reach_the_owners_audit_log_after_the_request(
    client: Client, mail_dir: Path, db: Database
) -> None:
    email = "sal@example.org"
    await register_verified(client, mail_dir, email)
    for address in (email, "no-account@example.org"):
        failed = await client.post(
            "/api/v1/auth/login", json={"email": address, "password": "not the password"}
        )
        assert failed.status_code == 401
    tokens = await login_tokens(client, email)
    await settle_outbox(client, db)  # the relay writes the row after the request
    events = (await client.get("/api/v1/me/audit", headers=bearer(tokens))).json()
    failures = [e for e in events if e["kind"] == "login.failed"]
    assert len(failures) == 1
    assert failures[0]["ip"]


async def test_a_reset_signs_out_everywhere_even_if_the_stores_fail_after_it(
    client: Client, mail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reset's own transaction moves the account's not-before; ending the stored sessions
    afterwards is clean-up. The stores failing right then is simulated (patched to raise),
    since no real outage can be timed to fall between the commit and the clean-up."""
    email = "tam@example.org"
    await register_verified(client, mail_dir, email)
    attacker = await login_tokens(client, email)
    await client.post("/api/v1/auth/password/forgot", json={"email": email})
    token = token_in(await wait_for_mail(mail_dir, email, RESET))

    async def stores_down(*_args: Any, **_kwargs: Any) -> int:
        raise ServiceUnavailable("the session store is unavailable; try again shortly")

    monkeypatch.setattr(client.app.state.container.auth.sessions, "end_all", stores_down)
    client.app.state.container.clock.offset += 2
    reset = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "mine again, safe"}
    )
    assert reset.status_code == 204, reset.text
    assert (await client.get("/api/v1/me", headers=bearer(attacker))).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": attacker["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_signing_in_correctly_never_locks_you_out(client: Client, mail_dir: Path) -> None:
    """The per-account limits stop guessing: correct passwords do not use them up, so a
    person who signs in (or re-authenticates) many times in a row is never refused."""
    email = "una@example.org"
    await register_verified(client, mail_dir, email)
    wrong = {"email": email, "password": "not the password"}
    assert (await client.post("/api/v1/auth/login", json=wrong)).status_code == 401
    logins = [
        (
            await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        ).status_code
        for _ in range(8)
    ]
    assert logins == [200] * 8
    tokens = await login_tokens(client, email)
    changes = [
        (
            await client.post(
                "/api/v1/me/email",
                json={"new_email": f"una{i}@example.org", "password": PASSWORD},
                headers=bearer(tokens),
            )
        ).status_code
        for i in range(7)
    ]
    assert changes == [202] * 7
    # Wrong guesses still count: five, then refused.
    guesses = [
        (
            await client.post(
                "/api/v1/me/email",
                json={"new_email": "una-x@example.org", "password": "a wrong guess"},
                headers=bearer(tokens),
            )
        ).status_code
        for _ in range(6)
    ]
    assert guesses == [403] * 5 + [429]


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        (
            "POST",
            "/api/v1/auth/password/change",
            {"current_password": "nope, wrong", "new_password": "a fine new passphrase"},
            "password.change",
        ),
        (
            "POST",
            "/api/v1/me/email",
            {"new_email": "new@example.org", "password": "nope, wrong"},
            "email.change",
        ),
        ("DELETE", "/api/v1/me", {"password": "nope, wrong"}, "account.delete"),
    ],
)
async def test_failed_re_authentications_are_audited(
    client: Client, mail_dir: Path, method: str, path: str, body: dict[str, str], action: str
) -> None:
    email = "vic@example.org"
    await register_verified(client, mail_dir, email)
    tokens = await login_tokens(client, email)
    refused = await client.request(method, path, json=body, headers=bearer(tokens))
    assert refused.status_code == 403
    assert refused.json()["code"] == "wrong-password"
    events = (await client.get("/api/v1/me/audit", headers=bearer(tokens))).json()
    failed = [e for e in events if e["kind"] == "reauth.failed"]
    assert [e["detail"] for e in failed] == [{"action": action}]
    assert failed[0]["ip"]


async def test_the_time_zone_is_part_of_the_profile(client: Client, mail_dir: Path) -> None:
    await register_verified(client, mail_dir, "wim@example.org")
    tokens = await login_tokens(client, "wim@example.org")
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()
    assert me["time_zone"] == "UTC"
    changed = await client.patch(
        "/api/v1/me", json={"time_zone": "America/Argentina/Buenos_Aires"}, headers=bearer(tokens)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["time_zone"] == "America/Argentina/Buenos_Aires"
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "", "Europe/"):
        refused = await client.patch("/api/v1/me", json={"time_zone": bad}, headers=bearer(tokens))
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] in ("time_zone", "body.time_zone"), bad


async def test_the_tidy_up_after_a_reset_spares_a_sign_in_made_since(
    client: Client, mail_dir: Path, settings: Settings
) -> None:
    """`accounts.signed-out-everywhere` is handled after the request, by the relay: a sign-in
    made between the reset and the handling must survive it (it did not: the handler ended
    every family, and a full suite on a busy machine caught a fresh login refused)."""
    email = "tidy@example.org"
    await register_verified(client, mail_dir, email)
    before = await login_tokens(client, email)
    await asyncio.sleep(1.05)  # not-before has whole seconds
    since = await login_tokens(client, email)
    me = await client.get("/api/v1/me", headers=bearer(since))
    # The app's stores belong to the app's event loop: this test's own, on the same database.
    container = Container(settings)
    sessions = container.auth.sessions
    families = sessions.families
    listed = await families.list_for_user(me.json()["id"], now=time.time())
    cutoff = max(f.created_at for f in listed)  # the second the second sign-in began
    message = OutboxMessage(
        id="m-1",
        kind=SIGNED_OUT_EVERYWHERE,
        payload=msgspec.json.encode(
            SignedOutEverywhere(
                account_id=me.json()["id"], reason="password-reset", not_before=cutoff
            )
        ).decode(),
        attempt=1,
        correlation_id=None,
        created_at=datetime.now(UTC),
    )
    await SessionJobs(sessions).signed_out_everywhere(message)
    assert (await client.get("/api/v1/me", headers=bearer(since))).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(before))).status_code == 401
    # Without a not-before (a deletion, a disabling, an older message) everything ends.
    everything = msgspec.structs.replace(
        message,
        payload=msgspec.json.encode(
            SignedOutEverywhere(account_id=me.json()["id"], reason="disabled")
        ).decode(),
    )
    await SessionJobs(sessions).signed_out_everywhere(everything)
    assert (await client.get("/api/v1/me", headers=bearer(since))).status_code == 401
    await container.aclose()
