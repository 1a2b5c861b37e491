"""Webhooks' signing secrets sealed at rest (AES-256-GCM, bound to the endpoint and the
column), on SQLite and PostgreSQL: the table holds no secret in the clear, deliveries still
verify at a real receiver (both secrets during a rotation), a sealed value copied to another
endpoint does not open (a clear refusal and a clear log line, never a 500), and the migration
seals the rows that were stored in the clear."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, String, Uuid, column, select, table

from tests.auth_helpers import Client, settle_outbox
from tests.fetch_support import Listener
from tests.integration import test_webhooks as hooks
from tests.integration.test_migrations import run
from waymark.features.webhooks.tables import webhook_endpoints
from waymark.infra.security.secret_box import SecretBox, SecretUnreadable
from waymark.infra.sql import migrations
from waymark.infra.sql.database import Database, create_engine
from waymark.infra.sql.types import UtcDateTime

# The webhooks tests' app (with a receiver on 127.0.0.1 let through), team and receiver.
settings, crew, receiver = hooks.settings, hooks.crew, hooks.receiver
subscribe, log_of, verify = hooks.subscribe, hooks.log_of, hooks.verify
BEFORE_SEALING = "3d8f2b6a1c57"
# The tables as they were before the secrets were sealed (the code's own are sealed now).
TEAMS = table(
    "teams",
    column("id", Uuid()),
    column("name", String()),
    column("members_see_progress", Boolean()),
    column("created_at", UtcDateTime()),
    column("updated_at", UtcDateTime()),
)
PLAIN_ENDPOINTS = table(
    "webhook_endpoints",
    *(column(name, Uuid()) for name in ("id", "team_id")),
    *(column(name, String()) for name in ("url", "events", "secret", "previous_secret")),
    *(column(name, UtcDateTime()) for name in ("created_at", "updated_at")),
)


async def ping(client: Client, team: str, admin: Any, hook: str) -> None:
    pinged = await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
    assert pinged.status_code == 202, pinged.text


async def rotate(
    client: Client, team: str, admin: Any, hook: str, *, keep: int, status: int
) -> dict[str, Any]:
    """Rotate the endpoint's secret, keeping the previous one `keep` hours; the answer."""
    answer = await client.post(
        f"{team}/webhooks/{hook}/rotate", json={"keep_previous_hours": keep}, headers=admin.auth
    )
    assert answer.status_code == status, answer.text
    if status >= 400:
        assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


async def stored(db: Database, webhook_id: str) -> tuple[bytes, bytes | None]:
    """The endpoint's secret columns, read straight from the table."""
    e = webhook_endpoints
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(e.c.secret, e.c.previous_secret).where(e.c.id == uuid.UUID(webhook_id))
            )
        ).one()
    return row.secret, row.previous_secret


async def test_secrets_are_sealed_at_rest_and_deliveries_still_verify(
    client: Client, db: Database, crew: dict[str, Any], receiver: Listener
) -> None:
    team, admin = crew["team"], crew["admin"]
    made = await subscribe(client, team, admin, f"{receiver.url}/s", ["teams.invited"])
    old, hook = made["secret"], made["webhook"]["id"]
    secret, previous = await stored(db, hook)
    assert previous is None
    assert old.encode() not in secret
    assert old.removeprefix("whsec_").encode() not in secret

    new = (await rotate(client, team, admin, hook, keep=1, status=200))["secret"]
    secret, previous = await stored(db, hook)
    assert previous is not None
    for plain in (old, new):
        assert plain.removeprefix("whsec_").encode() not in secret + previous
    # The secret is shown at creation and rotation only.
    read = await client.get(f"{team}/webhooks/{hook}", headers=admin.auth)
    assert old not in read.text
    assert new not in read.text

    assert (
        await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
    ).status_code == 202
    await settle_outbox(client, db)
    (got,) = receiver.requests
    header = got.headers["waymark-signature"]
    assert verify([new], header, got.body)
    assert verify([old], header, got.body)  # the rotation's window
    assert not verify(["whsec_other"], header, got.body)


async def test_a_sealed_secret_copied_to_another_endpoint_does_not_open(
    client: Client, db: Database, crew: dict[str, Any], receiver: Listener
) -> None:
    team, admin = crew["team"], crew["admin"]
    source = await subscribe(client, team, admin, f"{receiver.url}/a", ["teams.invited"])
    target = await subscribe(client, team, admin, f"{receiver.url}/b", ["teams.invited"])
    hook = target["webhook"]["id"]
    moved, _ = await stored(db, source["webhook"]["id"])
    async with db.transaction() as conn:
        await conn.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.id == uuid.UUID(hook))
            .values(secret=moved)
        )

    # Keeping the unreadable secret beside a new one: refused, with its own code.
    kept = await rotate(client, team, admin, hook, keep=1, status=409)
    assert kept["code"] == "webhook-secret-unreadable"

    # A delivery signs with nothing it cannot open: it fails, and the log says why.
    assert (
        await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
    ).status_code == 202
    await settle_outbox(client, db)
    assert receiver.requests == []
    logged = await log_of(client, team, admin, hook)
    assert logged
    assert logged[0]["state"] == "failed"
    assert logged[0]["error"].startswith("the signing secret cannot be read")

    # A rotation that keeps nothing replaces it, and deliveries verify again.
    fresh = await rotate(client, team, admin, hook, keep=0, status=200)
    assert (
        await client.post(f"{team}/webhooks/{hook}/ping", headers=admin.auth)
    ).status_code == 202
    await settle_outbox(client, db)
    (got,) = receiver.requests
    assert got.path == "/b"
    assert verify([fresh["secret"]], got.headers["waymark-signature"], got.body)


async def stored_in_the_clear(url: str, endpoints: dict[uuid.UUID, tuple[str, str | None]]) -> None:
    """A team and its endpoints, written as they were before the sealing migration."""
    team, now = uuid.uuid4(), datetime(2026, 11, 1, tzinfo=UTC)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                TEAMS.insert().values(
                    id=team,
                    name="Guild",
                    members_see_progress=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            for webhook_id, (secret, previous) in endpoints.items():
                await conn.execute(
                    PLAIN_ENDPOINTS.insert().values(
                        id=webhook_id,
                        team_id=team,
                        url="https://hooks.example.org/in",
                        events='["ping"]',
                        secret=secret,
                        previous_secret=previous,
                        created_at=now,
                        updated_at=now,
                    )
                )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("fresh_url", ["sqlite", "postgresql"], indirect=True)
async def test_the_migration_seals_secrets_stored_in_the_clear(
    fresh_url: str, tmp_path: Path
) -> None:
    key = tmp_path / "var" / "secret-box.key"
    run(migrations.upgrade, fresh_url, BEFORE_SEALING)
    rotating, plain = uuid.uuid4(), uuid.uuid4()
    await stored_in_the_clear(
        fresh_url,
        {rotating: ("whsec_current", "whsec_previous"), plain: ("whsec_only", None)},
    )
    engine = create_engine(fresh_url)
    try:
        run(partial(migrations.upgrade, secret_key_path=key), fresh_url)

        async with engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(select(webhook_endpoints))}
        box = SecretBox.open(key)  # the key the migration made (none was there)

        def opened(webhook_id: uuid.UUID, role: str) -> str:
            aad = f"webhook_endpoints.{role}:{webhook_id}".encode()
            sealed: bytes = getattr(rows[webhook_id], role)
            assert b"whsec_" not in sealed
            return box.unseal(sealed, aad=aad).decode()

        assert opened(rotating, "secret") == "whsec_current"
        assert opened(rotating, "previous_secret") == "whsec_previous"
        assert opened(plain, "secret") == "whsec_only"
        assert rows[plain].previous_secret is None
        with pytest.raises(SecretUnreadable):  # bound to its row and column
            box.unseal(rows[rotating].secret, aad=f"webhook_endpoints.secret:{plain}".encode())

        # Down again: the secrets in the clear, as they were.
        run(partial(migrations.downgrade, secret_key_path=key), fresh_url, BEFORE_SEALING)
        async with engine.connect() as conn:
            e = PLAIN_ENDPOINTS.c
            back = {
                r.id: (r.secret, r.previous_secret)
                for r in await conn.execute(select(e.id, e.secret, e.previous_secret))
            }
    finally:
        await engine.dispose()
    assert back == {
        rotating: ("whsec_current", "whsec_previous"),
        plain: ("whsec_only", None),
    }


@pytest.mark.parametrize("fresh_url", ["sqlite"], indirect=True)
async def test_in_production_the_migration_refuses_to_seal_without_the_key(
    fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production refuses to start without the key; a key made by the migration alone would
    seal secrets that no server could open."""
    run(migrations.upgrade, fresh_url, BEFORE_SEALING)
    await stored_in_the_clear(fresh_url, {uuid.uuid4(): ("whsec_only", None)})
    monkeypatch.setenv("WAYMARK_ENVIRONMENT", "production")
    key = tmp_path / "nowhere" / "secret-box.key"
    with pytest.raises(RuntimeError, match="waymark keys secret-box"):
        run(partial(migrations.upgrade, secret_key_path=key), fresh_url)
    assert not key.exists()
    assert run(migrations.current_revision, fresh_url) == BEFORE_SEALING
