"""What a team's managers see and do about its progress: the members' progress on a roadmap
the team follows (per member, overall, and per topic for a heat map), and reminder mails to
the members behind.

Progress comes from the progress feature's read models through its public service
(`ProgressService.of_members`), in a constant number of statements whatever the number of
members or the length of their histories; topics the team hides are left out of everything.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from waymark.features.progress.schemas import GroupProgress, LearnerCounts
from waymark.features.roadmaps.schemas import CurrentRoadmap
from waymark.features.teams.limits import REMINDER_ROADMAP, reminder_key
from waymark.features.teams.messages import TeamReminded, mail_reminder, publish_reminded
from waymark.features.teams.repository import AssignedRoadmap, HotTeamReads, MemberRow, TeamRow
from waymark.features.teams.roadmaps import the_assignment
from waymark.features.teams.schemas import (
    MemberProgress,
    Reminded,
    ReminderRequest,
    TeamProgress,
    TopicHeat,
)
from waymark.features.teams.use_cases import TeamUseCases, standing, standing_of
from waymark.kernel.authz import TEAM_ROLE_OF, Action
from waymark.kernel.identity import Account


@dataclass(kw_only=True, eq=False)
class Reports(TeamUseCases):
    async def on_roadmap(self, account: Account, team_id: uuid.UUID, slug: str) -> TeamProgress:
        """The team's members on roadmap `slug` (one the team follows): each member's
        counts, percentage and last activity, everyone's added up, and per topic how many
        members are done, learning, skipped or pending. To managers and up, and to members
        when the team lets them (`members_see_progress`)."""
        async with self.db.hot_reads():  # one connection for the seven statements
            team, assigned, rows = await self._read(account, team_id, slug, Action.PROGRESS_READ)
            ids = [row.account_id for row in rows]
            group = await self.progress.of_members(slug, ids, hidden=assigned.hidden)
            people = await self.profiles.many(ids)  # accounts gone meanwhile are left out
        roadmap = await self.catalog.current(slug)
        roles = {row.account_id: row.role for row in rows}
        members = []
        for learner in group.learners:
            person = people.get(learner.account_id)
            if person is not None:
                members.append(
                    MemberProgress(
                        account_id=learner.account_id,
                        display_name=person.display_name,
                        email=person.email,
                        role=TEAM_ROLE_OF[roles[learner.account_id]],
                        counts=learner.counts,
                        last_activity_at=learner.last_activity_at,
                    )
                )
        return TeamProgress(
            team_id=team.id,
            slug=group.slug,
            title=group.title,
            version=group.version,
            hidden_topics=assigned.hidden,
            overall=group.overall,
            last_activity_at=group.last_activity_at,
            members=members,
            topics=_heat(group, roadmap),
        )

    async def remind(
        self, account: Account, team_id: uuid.UUID, request: ReminderRequest
    ) -> Reminded:
        """Mail the members behind on a roadmap the team follows (below a percentage, or
        with no change for some days), but the sender and those who opted out of reminders
        (`Account.team_reminders`). Once a day per team and roadmap (429 after)."""
        slug = request.roadmap
        team, assigned, rows = await self._read(account, team_id, slug, Action.REMINDERS_SEND)
        await self.throttle.check((REMINDER_ROADMAP, reminder_key(team_id, slug)))
        group = await self.progress.of_members(
            slug, [row.account_id for row in rows], hidden=assigned.hidden
        )
        now = self.clock.now()
        behind = [
            learner
            for learner in group.learners
            if learner.account_id != account.id and _is_behind(learner, request, now)
        ]
        accounts = await self.profiles.many([learner.account_id for learner in behind])
        reminded = 0
        async with self.db.transaction() as conn:
            # Again, in the transaction that writes: the sender's role may have changed.
            caller = await standing(conn, account, team_id)
            caller.require(Action.REMINDERS_SEND)
            for learner in behind:
                member = accounts.get(learner.account_id)
                if member is None or member.disabled or not member.team_reminders:
                    continue
                mailed = await mail_reminder(
                    self.outbox,
                    conn,
                    to=member.email,
                    link=f"{self.public_url.rstrip('/')}/roadmaps/{slug}",
                    team=team.name,
                    roadmap=group.title,
                    percentage=learner.counts.percentage,
                    dedupe_key=f"team-reminder:{team_id}:{slug}:{member.id}:{now.date()}",
                )
                if mailed:  # the day's one reminder: announced once too
                    reminded += 1
                    await publish_reminded(
                        self.outbox,
                        conn,
                        TeamReminded(
                            team_id=str(team_id),
                            team_name=team.name,
                            account_id=str(member.id),
                            roadmap=slug,
                            roadmap_title=group.title,
                            percentage=learner.counts.percentage,
                            at=now,
                        ),
                    )
        return Reminded(reminded=reminded)

    async def _read(
        self, account: Account, team_id: uuid.UUID, slug: str, action: Action
    ) -> tuple[TeamRow, AssignedRoadmap, list[MemberRow]]:
        reads = HotTeamReads(self.db)
        team = standing_of(account, *await reads.standing(team_id, account.id)).require(action)
        assigned = the_assignment(await reads.roadmap(team_id, slug), slug)
        return team, assigned, await reads.members(team_id)


def _is_behind(learner: LearnerCounts, request: ReminderRequest, now: datetime) -> bool:
    if request.below_percentage is not None:
        return learner.counts.percentage < request.below_percentage
    days = timedelta(days=request.inactive_days or 0)
    return learner.last_activity_at is None or now - learner.last_activity_at >= days


def _heat(group: GroupProgress, roadmap: CurrentRoadmap) -> list[TopicHeat]:
    where = {
        topic.id: (topic.title, section.id)
        for section in roadmap.detail.sections
        for topic in section.topics
    }
    return [
        TopicHeat(
            topic_id=tally.topic_id,
            title=where.get(tally.topic_id, (tally.topic_id, ""))[0],
            section_id=where.get(tally.topic_id, ("", ""))[1],
            done=tally.done,
            learning=tally.learning,
            skipped=tally.skipped,
            pending=tally.pending,
        )
        for tally in group.topics
    ]
