"""The Alembic migrations build the schema the code expects, and undo it cleanly."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from waymark.features.accounts.tables import email_tokens, users
from waymark.infra.sql import migrations
from waymark.infra.sql.database import create_engine
from waymark.infra.sql.metadata import metadata


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _schema_diff(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
    finally:
        await engine.dispose()


def run(fn: Any, *args: Any) -> Any:
    """Alembic's env runs its own event loop; keep it off this test's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


async def test_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    run(migrations.upgrade, fresh_url)
    assert run(migrations.current_revision, fresh_url) == migrations.head_revision()
    assert {t.name for t in metadata.sorted_tables} <= await _table_names(fresh_url)
    assert await _schema_diff(fresh_url) == []

    run(migrations.downgrade, fresh_url, "base")
    assert run(migrations.current_revision, fresh_url) is None
    assert await _table_names(fresh_url) <= {"alembic_version"}

    run(migrations.upgrade, fresh_url)
    assert await _schema_diff(fresh_url) == []


BEFORE_CANONICAL_EMAILS = "5a6b7c8d9e01"


@pytest.mark.parametrize("fresh_url", ["sqlite", "postgresql"], indirect=True)
async def test_stored_addresses_are_rewritten_in_canonical_form(fresh_url: str) -> None:
    """Rows written by the old normalisation (strip + lower case) as the new lookups need
    them: rewritten when an address has another canonical spelling, disabled when it is no
    address now or a second account of one mailbox (issue 8)."""
    run(migrations.upgrade, fresh_url, BEFORE_CANONICAL_EMAILS)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    stored = {
        "plain": ("ada@example.org", t0, True),
        "unicode-domain": ("ada@bücher.de", t0 + timedelta(days=2), True),
        "same-mailbox-nfd": ("ada@bu\u0308cher.de", t0 + timedelta(days=1), False),
        "nfd": ("jose\u0301@example.org", t0, True),
        "display-name": ("victim.example.com<attacker@evil.com>", t0, True),
        "trailing-dot": ("bob@example.org.", t0, True),
        "mover": ("cy@example.org", t0, True),
    }
    ids = {name: uuid.uuid4() for name in stored}
    engine = create_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            for name, (email, created, verified) in stored.items():
                await conn.execute(
                    insert(users).values(
                        id=ids[name],
                        email=email,
                        password_hash="x",
                        email_verified_at=created if verified else None,
                        tokens_valid_after=created,
                        created_at=created,
                        updated_at=created,
                    )
                )
            for user, new_email in [
                ("display-name", None),
                ("mover", "cy@bücher.de"),
                ("mover", "x<eve@evil.com>"),
            ]:
                await conn.execute(
                    insert(email_tokens).values(
                        id=uuid.uuid4(),
                        user_id=ids[user],
                        purpose="verify-email" if new_email is None else "change-email",
                        token_hash=uuid.uuid4().hex,
                        new_email=new_email,
                        created_at=t0,
                        expires_at=t0 + timedelta(days=3650),
                    )
                )

        run(migrations.upgrade, fresh_url)

        async with engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(select(users))}
            tokens = (await conn.execute(select(email_tokens))).all()
    finally:
        await engine.dispose()
    after = {name: rows[ids[name]] for name in stored}
    assert after["plain"].email == "ada@example.org"
    assert after["unicode-domain"].email == "ada@xn--bcher-kva.de"  # verified: kept
    assert after["nfd"].email == "josé@example.org"
    active = {name for name, row in after.items() if row.disabled_at is None}
    assert active == {"plain", "unicode-domain", "nfd", "mover"}
    for name in ("same-mailbox-nfd", "display-name", "trailing-dot"):
        assert after[name].tokens_valid_after > t0  # signed out everywhere
    live = {(t.user_id, t.new_email) for t in tokens if t.used_at is None}
    assert live == {(ids["mover"], "cy@xn--bcher-kva.de")}
