"""What teams write to the outbox: mail (an invite with its single-use link, a reminder),
queued in the transaction of the change, so a change that rolls back sends nothing; and the
domain event `teams.membership-changed` (docs/events.md), published the same way."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox

INVITE_MAIL = "team-invite"
REMINDER_MAIL = "team-reminder"
MEMBERSHIP_CHANGED = "teams.membership-changed"

Change = Literal["removed", "left", "role-changed", "team-deleted", "settings-changed"]


class MembershipChanged(msgspec.Struct, frozen=True, kw_only=True):
    """`teams.membership-changed`, version 1: what a member may see of the team may have
    changed (for everyone in it when `account_id` is None)."""

    version: Literal[1] = 1
    team_id: str
    account_id: str | None
    """The member concerned; None: every member (the team was deleted, or its settings
    changed)."""
    change: Change
    role: str | None
    """The member's role now; None when it has none (removed, left, deleted)."""
    at: datetime


async def membership_changed(
    outbox: Outbox,
    conn: AsyncConnection,
    team_id: uuid.UUID,
    account_id: uuid.UUID | None,
    change: Change,
    *,
    role: str | None,
    at: datetime,
) -> None:
    """Publish `teams.membership-changed` in the transaction of the change."""
    event = MembershipChanged(
        team_id=str(team_id),
        account_id=None if account_id is None else str(account_id),
        change=change,
        role=role,
        at=at,
    )
    await outbox.publish(conn, MEMBERSHIP_CHANGED, event)


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
