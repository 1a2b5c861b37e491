"""WebSocket tickets (`POST /api/v1/me/live-tickets`, `Tickets.redeem`): issued to the caller,
kept only as a hash, good once, within their lifetime, and only while the account may still
connect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.auth_helpers import Client, bearer, login_tokens, register_verified
from tests.integration.progress_support import new_account
from waymark.container import Container
from waymark.features.accounts.tables import users
from waymark.features.live.errors import TicketRefused
from waymark.infra.sql.database import Database
from waymark.infra.sql.live_tables import live_tickets
from waymark.kernel.errors import RateLimited
from waymark.kernel.identity import hash_token
from waymark.settings import Settings

TICKETS = "/api/v1/me/live-tickets"


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    """A container of the test's own (the app's runs on another event loop), on the same
    database."""
    built = Container(settings)
    try:
        yield built
    finally:
        await built.aclose()


async def test_a_ticket_is_issued_to_the_caller_and_kept_only_as_its_hash(
    client: Client, mail_dir: Path, db: Database, container: Container
) -> None:
    await register_verified(client, mail_dir, "ws@example.org")
    headers = bearer(await login_tokens(client, "ws@example.org"))
    response = await client.post(TICKETS, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert issued["expires_in"] == 30
    assert len(issued["ticket"]) >= 43  # 256 bits, base64url
    async with db.read() as conn:
        stored = (await conn.execute(select(live_tickets.c.ticket_hash))).scalars().all()
    assert stored == [hash_token(issued["ticket"])]
    me = (await client.get("/api/v1/me", headers=headers)).json()
    account = await container.live_tickets.redeem(issued["ticket"])
    assert str(account.id) == me["id"]


async def test_no_ticket_without_credentials(client: Client) -> None:
    response = await client.post(TICKETS)
    assert response.status_code == 401
    assert response.json()["code"] == "not-authenticated"


async def test_a_ticket_opens_once(container: Container, db: Database) -> None:
    tickets = container.live_tickets
    learner = await new_account(db)
    ticket = await tickets.issue(learner)
    assert (await tickets.redeem(ticket)).id == learner.id
    with pytest.raises(TicketRefused):
        await tickets.redeem(ticket)


async def test_a_ticket_expires(container: Container, db: Database) -> None:
    learner = await new_account(db)
    ticket = await container.live_tickets.issue(learner)
    container.clock.offset += 31
    with pytest.raises(TicketRefused):
        await container.live_tickets.redeem(ticket)


@pytest.mark.parametrize("change", ["disabled", "signed-out-everywhere"])
async def test_an_account_that_may_no_longer_connect_cannot_redeem(
    container: Container, db: Database, change: str
) -> None:
    tickets = container.live_tickets
    learner = await new_account(db)
    ticket = await tickets.issue(learner)
    later = datetime.now(UTC) + timedelta(seconds=5)
    values = {"disabled_at": later} if change == "disabled" else {"tokens_valid_after": later}
    async with db.transaction() as conn:
        await conn.execute(update(users).where(users.c.id == learner.id).values(**values))
    with pytest.raises(TicketRefused):
        await tickets.redeem(ticket)


async def test_what_was_never_issued_is_refused(container: Container) -> None:
    for ticket in ("", "x" * 129, "never-issued"):
        with pytest.raises(TicketRefused):
            await container.live_tickets.redeem(ticket)


async def test_tickets_past_the_accounts_rate_are_refused(settings: Settings, db: Database) -> None:
    limited = Container(
        settings.model_copy(
            update={"live": settings.live.model_copy(update={"tickets_per_minute": 2})}
        )
    )
    try:
        learner = await new_account(db)
        for _ in range(2):
            await limited.live_tickets.issue(learner)
        with pytest.raises(RateLimited):
            await limited.live_tickets.issue(learner)
        other = await new_account(db)
        assert await limited.live_tickets.issue(other)  # the rate is per account
    finally:
        await limited.aclose()
