"""Teams: their members and roles, pending invites, and the roadmaps they follow.

- `teams`: a name and its settings. Ids are random UUIDs (never serials), so one team's id
  tells nothing of another's.
- `team_members`: who is in a team, with which role (`kernel.authz.TeamRole`). A deleted
  account's memberships go with it (cascade); a team left without an owner gets one on the
  `accounts.deleted` event (`jobs.py`).
- `team_invites`: an offer of a role to one canonical address, usable once through a mailed
  token of which only the SHA-256 is kept. Accepting, declining or revoking deletes the row;
  resending replaces the hash, so the old token dies.
- `team_roadmaps` and `team_hidden_topics`: the roadmaps assigned to a team, and the topics
  the team leaves out of its view of each.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    false,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

ROLES_SQL = "('member', 'manager', 'admin', 'owner')"
OFFERED_ROLES_SQL = "('member', 'manager', 'admin')"

teams = Table(
    "teams",
    metadata,
    Column("id", Uuid, primary_key=True, comment="Random (uuid4)."),
    Column("name", String(100), nullable=False),
    Column(
        "members_see_progress",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="Whether members (not only managers and up) see the team's progress.",
    ),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False, comment="kernel.authz.TeamRole"),
    Column("joined_at", UtcDateTime(), nullable=False),
    CheckConstraint(f"role IN {ROLES_SQL}", name="role"),
)
# "My teams", and an account's memberships when it is deleted.
Index("ix_team_members_user_id", team_members.c.user_id)
# A team's owners (the last owner may not leave; teams left without one get one).
Index("ix_team_members_team_id_role", team_members.c.team_id, team_members.c.role)

team_invites = Table(
    "team_invites",
    metadata,
    Column("id", Uuid, primary_key=True, comment="Random (uuid4)."),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False, comment="Canonical: only it may accept."),
    Column("role", String(16), nullable=False),
    Column(
        "token_hash", String(64), nullable=False, unique=True, comment="SHA-256; never the token."
    ),
    Column("invited_by", ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False, comment="The latest mail (a resend)."),
    Column("expires_at", UtcDateTime(), nullable=False),
    UniqueConstraint("team_id", "email"),
    CheckConstraint(f"role IN {OFFERED_ROLES_SQL}", name="role"),
)
Index("ix_team_invites_invited_by", team_invites.c.invited_by)

team_roadmaps = Table(
    "team_roadmaps",
    metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("roadmap_id", ForeignKey("roadmaps.id", ondelete="CASCADE"), primary_key=True),
    Column("slug", String(64), nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
    UniqueConstraint("team_id", "slug"),
)

team_hidden_topics = Table(
    "team_hidden_topics",
    metadata,
    Column("team_id", Uuid, primary_key=True),
    Column("roadmap_id", Integer, primary_key=True),
    Column("topic_key", String(129), primary_key=True),
    ForeignKeyConstraint(
        ["team_id", "roadmap_id"],
        ["team_roadmaps.team_id", "team_roadmaps.roadmap_id"],
        ondelete="CASCADE",
    ),
)
