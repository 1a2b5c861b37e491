"""What webhooks write to the outbox: the job that sends one delivery (`webhooks.deliver`,
queued in the transaction that logs the delivery, so it runs only after that commits), and
the mail that tells a team's admins their endpoint was turned off."""

from __future__ import annotations

from typing import Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox

DELIVER = "webhooks.deliver"
DISABLED_MAIL = "webhook-disabled"


class Deliver(msgspec.Struct, frozen=True, kw_only=True):
    """`webhooks.deliver`, version 1."""

    version: Literal[1] = 1
    delivery_id: str


async def queue_delivery(outbox: Outbox, conn: AsyncConnection, delivery_id: str) -> None:
    await outbox.enqueue(conn, DELIVER, Deliver(delivery_id=delivery_id))


async def mail_disabled(
    outbox: Outbox,
    conn: AsyncConnection,
    *,
    to: str,
    team: str,
    url: str,
    failures: int,
    reason: str,
    link: str,
) -> None:
    await enqueue_mail(
        outbox,
        conn,
        to=to,
        template=DISABLED_MAIL,
        context={"team": team, "url": url, "failures": failures, "reason": reason, "link": link},
    )
