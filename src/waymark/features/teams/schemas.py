"""Request and response bodies of teams. Requests forbid unknown fields (`Strict`): an
`owner_id` on a team, a `role` on an accept or `owner` as a role given is a 422, never a way
round the policy. Ownership moves only by `POST teams/{id}/transfer`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from waymark.features.accounts.schemas import Email, Strict
from waymark.features.progress.schemas import Counts
from waymark.features.roadmaps.schemas import Slug, TopicId
from waymark.features.teams.limits import MAX_HIDDEN_TOPICS
from waymark.kernel.authz import TeamRole
from waymark.kernel.errors import FieldError, ValidationFailed

TeamName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=100,
        # Something visible, and no control characters.
        pattern=r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$",
        description="1 to 100 characters, not blank, no control characters.",
    ),
]
OfferedRole = Literal["member", "manager", "admin"]
"""A role that can be given by an invite or a change of role: `owner` moves only by a
transfer."""


# -- requests ------------------------------------------------------------------------------


class TeamCreate(Strict):
    name: TeamName
    members_see_progress: bool = False


class TeamPatch(Strict):
    name: TeamName | msgspec.UnsetType = msgspec.UNSET
    members_see_progress: bool | msgspec.UnsetType = msgspec.UNSET
    """True: members (not only managers and up) see the team's progress."""

    def changes(self) -> dict[str, str | bool]:
        """The fields given, by name."""
        return {
            name: value
            for name, value in msgspec.structs.asdict(self).items()
            if value is not msgspec.UNSET
        }


class Transfer(Strict):
    """`POST teams/{id}/transfer`: the member who becomes the owner (the owner becomes an
    admin)."""

    account_id: uuid.UUID


class RoleChange(Strict):
    role: OfferedRole


class InviteCreate(Strict):
    email: Email
    role: OfferedRole = "member"


class Acceptance(Strict):
    """`POST invites/{token}/accept`: an empty object. The role is the invite's; nothing
    the caller sends can change it (any field is a 422)."""


class HiddenTopics(Strict):
    """`PUT teams/{id}/roadmaps/{slug}/hidden-topics`: the whole set (an empty list shows
    every topic again)."""

    topic_ids: Annotated[list[TopicId], msgspec.Meta(max_length=MAX_HIDDEN_TOPICS)]

    def __post_init__(self) -> None:
        super().__post_init__()
        seen: set[str] = set()
        for index, topic in enumerate(self.topic_ids):
            if topic in seen:
                raise ValidationFailed([FieldError(f"topic_ids[{index}]", "the same topic twice")])
            seen.add(topic)


class ReminderRequest(Strict):
    """`POST teams/{id}/reminders`: mail the members behind on a roadmap the team follows,
    by one threshold: below a percentage done (or skipped), or no change for some days."""

    roadmap: Slug
    below_percentage: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    """Members whose percentage is below this."""
    inactive_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    """Members with no change to the roadmap for this many days (or none ever)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.below_percentage is None) == (self.inactive_days is None):
            raise ValidationFailed(
                [FieldError("below_percentage", "give one of below_percentage, inactive_days")]
            )


# -- answers -------------------------------------------------------------------------------


class TeamSummary(msgspec.Struct, kw_only=True):
    """A team as its member sees it in a list (`GET teams`)."""

    id: uuid.UUID
    name: str
    role: TeamRole
    """The caller's role in the team."""
    members_see_progress: bool
    member_count: int
    created_at: datetime


class TeamRoadmap(msgspec.Struct, kw_only=True):
    slug: str
    title: str
    hidden_topics: list[str]
    """Left out of the team's progress and reminders."""
    assigned_at: datetime


class TeamDetail(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    role: TeamRole
    """The caller's role in the team."""
    members_see_progress: bool
    member_count: int
    roadmaps: list[TeamRoadmap]
    created_at: datetime
    updated_at: datetime


class TeamMember(msgspec.Struct, kw_only=True):
    account_id: uuid.UUID
    display_name: str
    email: str
    role: TeamRole
    joined_at: datetime


class Invite(msgspec.Struct, kw_only=True):
    """A pending invite, as the team's managers and up see it (never its token)."""

    id: uuid.UUID
    email: str
    role: TeamRole
    invited_by: uuid.UUID | None
    """None when the inviter's account is gone."""
    created_at: datetime
    sent_at: datetime
    expires_at: datetime
    expired: bool


class Teammates(msgspec.Struct, kw_only=True):
    """`Members.teammates_on`: one team of an account that follows a roadmap, and the
    team's other members."""

    team_id: uuid.UUID
    team_name: str
    account_ids: list[uuid.UUID]


class MyInvite(msgspec.Struct, kw_only=True):
    """`GET me/invites`: a live invite to the caller's confirmed address (its id is what
    the caller accepts or declines it by; never its token)."""

    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str
    role: TeamRole
    invited_by: str | None
    """The inviter's display name (empty if they set none); None when their account is gone."""
    expires_at: datetime


class InvitePreview(msgspec.Struct, kw_only=True):
    """`GET invites/{token}`: what an invite is for, to the invited address's account."""

    team_id: uuid.UUID
    team_name: str
    role: TeamRole
    email: str
    invited_by: str | None
    """The inviter's display name (empty if they set none); None when their account is gone."""
    expires_at: datetime


class MemberProgress(msgspec.Struct, kw_only=True):
    account_id: uuid.UUID
    display_name: str
    email: str
    role: TeamRole
    counts: Counts
    last_activity_at: datetime | None


class TopicHeat(msgspec.Struct, kw_only=True):
    """How many members have one topic in each status (a heat map's cell)."""

    topic_id: str
    title: str
    section_id: str
    done: int
    learning: int
    skipped: int
    pending: int


class TeamProgress(msgspec.Struct, kw_only=True):
    """`GET teams/{id}/progress/{slug}`: the team's members on one roadmap, hidden topics
    left out of everything."""

    team_id: uuid.UUID
    slug: str
    title: str
    version: int
    hidden_topics: list[str]
    overall: Counts
    """Every member's counts added up (`total`: visible topics times members)."""
    last_activity_at: datetime | None
    members: list[MemberProgress]
    topics: list[TopicHeat]


class Reminded(msgspec.Struct, kw_only=True):
    reminded: int
    """Members mailed: those behind the threshold who take reminders (the sender aside)."""
