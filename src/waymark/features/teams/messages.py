"""What teams write to the outbox: mail (an invite with its single-use link, a reminder),
and the domain events `teams.invited`, `teams.reminded` and `teams.membership-changed`
(docs/events.md), queued or published in the transaction of the change, so a change that
rolls back sends nothing."""

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


# -- domain events (docs/events.md) ---------------------------------------------------------

TEAM_INVITED = "teams.invited"
TEAM_REMINDED = "teams.reminded"


class TeamInvited(msgspec.Struct, frozen=True, kw_only=True):
    """`teams.invited`, version 1: an invite was made (not resent). Never the token: it
    exists only in the mail."""

    version: Literal[1] = 1
    team_id: str
    team_name: str
    invite_id: str
    email: str
    """The invited address (canonical): only the account with it, confirmed, may use it."""
    account_id: str | None
    """The invited address's account, when it has one (at the time of the invite)."""
    invited_by: str
    """The inviter's account."""
    inviter_name: str
    role: str
    expires_at: datetime


class TeamReminded(msgspec.Struct, frozen=True, kw_only=True):
    """`teams.reminded`, version 1: a member was mailed a reminder (once a day per member,
    team and roadmap)."""

    version: Literal[1] = 1
    team_id: str
    team_name: str
    account_id: str
    """The member reminded."""
    roadmap: str
    """The roadmap's slug."""
    roadmap_title: str
    percentage: float
    at: datetime


async def publish_invited(outbox: Outbox, conn: AsyncConnection, event: TeamInvited) -> None:
    await outbox.publish(conn, TEAM_INVITED, event)


async def publish_reminded(outbox: Outbox, conn: AsyncConnection, event: TeamReminded) -> None:
    await outbox.publish(conn, TEAM_REMINDED, event)
