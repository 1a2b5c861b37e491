"""What teams write to the outbox: mail (an invite with its single-use link, a reminder),
queued in the transaction of the change, so a change that rolls back sends nothing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox

INVITE_MAIL = "team-invite"
REMINDER_MAIL = "team-reminder"


async def mail_invite(
    outbox: Outbox,
    conn: AsyncConnection,
    *,
    to: str,
    link: str,
    team: str,
    inviter: str,
    role: str,
    days: int,
) -> None:
    """The invite's link (`{public_url}/invites/{token}`): the token exists only in it."""
    await enqueue_mail(
        outbox,
        conn,
        to=to,
        template=INVITE_MAIL,
        context={"link": link, "team": team, "inviter": inviter, "role": role, "days": days},
    )


async def mail_reminder(
    outbox: Outbox,
    conn: AsyncConnection,
    *,
    to: str,
    link: str,
    team: str,
    roadmap: str,
    percentage: float,
    dedupe_key: str,
) -> bool:
    """One member's reminder; `dedupe_key` keeps it to one per member, team, roadmap and
    day however often the request is retried. False if that one was queued already."""
    queued = await enqueue_mail(
        outbox,
        conn,
        to=to,
        template=REMINDER_MAIL,
        context={"link": link, "team": team, "roadmap": roadmap, "percentage": percentage},
        dedupe_key=dedupe_key,
    )
    return queued is not None
