"""The notification centre's outbox handlers: other features' domain events become
notifications. Each is *transactional*: the relay hands it a connection and marks the message
done in the same transaction, so a notification is made exactly once; the message's id is
also each notification's `dedupe_key`, so a handler run again (a retry after a failure
elsewhere) makes no second one.

- `teams.invited`, when the address is an account's, confirmed (the account that may see
  and use the invite): `team-invite`, linking to the account's invites (`/invites`), never
  to the mailed token;
- `progress.roadmap_completed`: `teammate-finished` to every other member of each team of
  the learner that follows the roadmap (one per member however many teams they share);
- `teams.reminded`: `team-reminder` to the member mailed;
- `progress.streak_ended`: `streak-ended` to the learner.

Accounts gone meanwhile (and disabled ones) are left out.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.profile import Profiles
from waymark.features.notifications.service import Notifications
from waymark.features.progress.messages import (
    ROADMAP_COMPLETED,
    STREAK_ENDED,
    RoadmapCompleted,
    StreakEnded,
)
from waymark.features.teams.messages import TEAM_INVITED, TEAM_REMINDED, TeamInvited, TeamReminded
from waymark.features.teams.service import Teams
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.kernel.identity import Account

T = TypeVar("T")
MY_INVITES = "/invites"


class NotificationJobs:
    def __init__(self, notifications: Notifications, teams: Teams, profiles: Profiles) -> None:
        self.notifications = notifications
        self.teams = teams
        self.profiles = profiles

    async def invited(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        event = _decode(message, TeamInvited)
        if event.account_id is None:
            return  # no account: the mail is all there is
        account_id = uuid.UUID(event.account_id)
        found = (await self.profiles.many([account_id])).get(account_id)
        if found is None or found.disabled or not _addressed(found, event.email):
            return  # only the account that may see the invite (`Invites.mine`) is told
        inviter = event.inviter_name or "A member of the team"
        await self.notifications.notify(
            conn,
            account_id,
            kind="team-invite",
            text=f"{inviter} invited you to join {event.team_name} as {event.role}.",
            link=MY_INVITES,
            data={
                "team_id": event.team_id,
                "team_name": event.team_name,
                "invite_id": event.invite_id,
                "role": event.role,
                "expires_at": event.expires_at.isoformat(),
            },
            dedupe_key=message.id,
        )

    async def roadmap_completed(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        event = _decode(message, RoadmapCompleted)
        learner = uuid.UUID(event.account_id)
        teams = await self.teams.members.teammates_on(conn, learner, event.roadmap)
        if not teams:
            return
        shared: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        for team in teams:
            for member in team.account_ids:
                shared.setdefault(member, []).append((team.team_id, team.team_name))
        people = await self.profiles.many([learner, *shared])
        finisher = people.get(learner)
        if finisher is None:
            return
        name = finisher.display_name or "A teammate"
        for member, in_teams in shared.items():
            account = people.get(member)
            if account is None or account.disabled:
                continue
            names = ", ".join(team_name for _, team_name in in_teams)
            await self.notifications.notify(
                conn,
                member,
                kind="teammate-finished",
                text=f"{name} ({names}) finished the roadmap {event.roadmap}.",
                link=f"/roadmaps/{event.roadmap}",
                data={
                    "account_id": event.account_id,
                    "display_name": finisher.display_name,
                    "roadmap": event.roadmap,
                    "team_ids": [str(team_id) for team_id, _ in in_teams],
                    "team_names": [team_name for _, team_name in in_teams],
                },
                dedupe_key=message.id,
            )

    async def reminded(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        event = _decode(message, TeamReminded)
        account_id = uuid.UUID(event.account_id)
        if not await self._live(account_id):
            return
        await self.notifications.notify(
            conn,
            account_id,
            kind="team-reminder",
            text=f"{event.team_name} reminds you of the roadmap {event.roadmap_title}: you "
            f"are at {event.percentage:g}%.",
            link=f"/roadmaps/{event.roadmap}",
            data={
                "team_id": event.team_id,
                "team_name": event.team_name,
                "roadmap": event.roadmap,
                "percentage": event.percentage,
            },
            dedupe_key=message.id,
        )

    async def streak_ended(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        event = _decode(message, StreakEnded)
        account_id = uuid.UUID(event.account_id)
        if not await self._live(account_id):
            return
        await self.notifications.notify(
            conn,
            account_id,
            kind="streak-ended",
            text=f"Your {event.days}-day streak ended on {event.last_active_day.isoformat()}. "
            "A topic today starts a new one.",
            link="/",
            data={"days": event.days, "last_active_day": event.last_active_day.isoformat()},
            dedupe_key=message.id,
        )

    async def _live(self, account_id: uuid.UUID) -> bool:
        found = (await self.profiles.many([account_id])).get(account_id)
        return found is not None and not found.disabled

    def register(self, handlers: HandlerRegistry) -> None:
        for event, subscriber, handler in (
            (TEAM_INVITED, "notifications.team-invite", self.invited),
            (ROADMAP_COMPLETED, "notifications.teammate-finished", self.roadmap_completed),
            (TEAM_REMINDED, "notifications.team-reminder", self.reminded),
            (STREAK_ENDED, "notifications.streak-ended", self.streak_ended),
        ):
            handlers.subscribe(event, subscriber, handler, transactional=True)


def _addressed(account: Account, email: str) -> bool:
    """The account has the invite's address, confirmed (the rule of `Invites.mine`)."""
    return account.email_verified and account.email == email


def _decode(message: OutboxMessage, type_: type[T]) -> T:
    try:
        return message.decode(type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
