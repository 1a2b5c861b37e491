"""Caps and rate limits of teams (see `waymark.kernel.throttle`).

Invites send mail to addresses the inviter chooses: they are limited per team and per
inviter, so neither one admin nor several admins of one team can turn Waymark into a mailer.
Reminders mail a team's members: once a day per team and roadmap. Limits keyed on a team are
checked after the caller's role, so nobody outside a team can spend its allowance.
"""

from __future__ import annotations

from waymark.kernel.throttle import Rule

MAX_MEMBERS = 500
"""Members of one team (an invite to a full team, or accepting one, is 409 `team-full`)."""
MAX_PENDING_INVITES = 100
"""Invites of one team not yet accepted, declined, revoked or expired."""
MAX_ROADMAPS = 50
"""Roadmaps assigned to one team."""
MAX_HIDDEN_TOPICS = 1000
"""Topics one team hides on one roadmap."""
INVITE_DAYS = 7
"""How long an invite (and each resend) lives."""

CREATE_ACCOUNT = Rule("team-create-account", 20, 3600)
INVITE_TEAM = Rule("team-invite-team", 100, 3600)
INVITE_ACCOUNT = Rule("team-invite-account", 50, 3600)
REMINDER_ROADMAP = Rule("team-reminder", 1, 86400)


def reminder_key(team_id: object, slug: str) -> str:
    return f"{team_id}:{slug}"
