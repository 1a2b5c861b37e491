"""Errors of teams, each with its stable code. Refusals by role are the policy's
(`kernel.authz.require`: 404 outside the team, 403 `forbidden` inside it)."""

from __future__ import annotations

from waymark.kernel.errors import WaymarkError


class LastOwner(WaymarkError):
    status = 409
    code = "last-owner"
    title = "The last owner cannot leave: transfer the team or delete it"


class TeamFull(WaymarkError):
    status = 409
    code = "team-full"
    title = "The team has as many members as a team may have"


class TooManyInvites(WaymarkError):
    status = 409
    code = "too-many-invites"
    title = "The team has as many pending invites as it may have"


class AlreadyInvited(WaymarkError):
    status = 409
    code = "already-invited"
    title = "This address has a pending invite to the team: resend it or revoke it"


class AlreadyMember(WaymarkError):
    status = 409
    code = "already-a-member"
    title = "This account is a member of the team already"


class TooManyRoadmaps(WaymarkError):
    status = 409
    code = "too-many-roadmaps"
    title = "The team follows as many roadmaps as a team may"


class InvalidInvite(WaymarkError):
    """Unknown, used, expired, revoked, or addressed to someone else: all look the same, so
    an invite link tells nothing to anyone but the address it was sent to."""

    status = 404
    code = "invalid-invite"
    title = "No such invite for you: it may be used, expired or revoked"
