"""What the tests of notifications share: the notification centre on the test's own pool,
notifications made straight through it, and the REST list read back."""

from __future__ import annotations

import uuid
from typing import Any

from tests.auth_helpers import Client
from waymark.features.notifications.service import Notifications
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock

NOTIFICATIONS = "/api/v1/me/notifications"


def centre_on(db: Database, outbox: Outbox | None = None) -> Notifications:
    return Notifications(db=db, clock=Clock(), outbox=outbox or Outbox(), retention_days=90)


async def give(
    centre: Notifications, account_id: uuid.UUID, n: int, *, prefix: str = "k"
) -> list[str]:
    """`n` team reminders for `account_id`, oldest first; their texts."""
    texts = []
    for i in range(n):
        text = f"{prefix} reminder {i}"
        async with centre.db.transaction() as conn:
            made = await centre.notify(
                conn,
                account_id,
                kind="team-reminder",
                text=text,
                link="/roadmaps/backend",
                data={"i": i},
                dedupe_key=f"{prefix}-{i}",
            )
        assert made
        texts.append(text)
    return texts


async def listed(client: Client, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(NOTIFICATIONS, params=params, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body
