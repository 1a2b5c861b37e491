"""What the live feature publishes of the notification centre (`LiveJobs.notification`):
`notifications.created` and `notifications.read` on the account's own channel, the payload as
it is, once however often the outbox runs the handler (keyed on the message's id); a payload
without an account is a permanent failure, never a retry. On the embedded channels (SQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest

from tests.integration.teams_support import team_services
from waymark.features.live.jobs import LiveJobs
from waymark.features.notifications.messages import (
    NOTIFICATION_CREATED,
    NOTIFICATIONS_READ,
    NotificationCreated,
    NotificationsRead,
)
from waymark.infra.outbox import OutboxMessage, PermanentFailure
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.kernel.clock import utcnow


@pytest.fixture
async def jobs(db: Database) -> AsyncIterator[LiveJobs]:
    channels = SqlLiveChannels(db, poll_interval=0.02)
    async with team_services(db) as (teams, _):
        yield LiveJobs(channels, teams)
    await channels.aclose()


def message(kind: str, payload: msgspec.Struct | dict[str, str], attempt: int = 1) -> OutboxMessage:
    return OutboxMessage(
        id="m-" + kind,
        kind=f"{kind}>live.notifications",
        payload=msgspec.json.encode(payload).decode(),
        attempt=attempt,
        correlation_id=None,
        created_at=utcnow(),
    )


async def test_notifications_reach_the_accounts_channel_once(jobs: LiveJobs) -> None:
    account = uuid.uuid4()
    channel = f"user:{account}"
    subscription = jobs.channels.subscribe()
    await subscription.add(channel)
    created = NotificationCreated(
        notification_id=str(uuid.uuid4()), account_id=str(account), kind="team-invite", unread=1
    )
    read = NotificationsRead(account_id=str(account), unread=0)
    await jobs.notification(message(NOTIFICATION_CREATED, created))
    await jobs.notification(message(NOTIFICATION_CREATED, created, attempt=2))  # a retry
    await jobs.notification(message(NOTIFICATIONS_READ, read))
    got = [await subscription.next(5) for _ in range(2)]
    assert [(e.channel, e.kind) for e in got if e] == [
        (channel, NOTIFICATION_CREATED),
        (channel, NOTIFICATIONS_READ),
    ]
    assert got[0] is not None
    assert got[0].data == msgspec.to_builtins(created)
    assert await subscription.next(0.2) is None  # the retry published nothing
    await subscription.aclose()


async def test_a_payload_without_an_account_is_a_permanent_failure(jobs: LiveJobs) -> None:
    with pytest.raises(PermanentFailure):
        await jobs.notification(message(NOTIFICATIONS_READ, {"unread": "none"}))
