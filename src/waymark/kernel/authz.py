"""Who may do what, answered in one place: `can(subject, action, resource)`.

Roles are data: each platform role and each team role is a named set of actions
(`PLATFORM_ROLES`, `TEAM_ROLES`), and what roles alone cannot say is a small attribute rule
beside them (`RULES`): a note is its owner's alone; a team's progress is visible to its
managers and up, and to its members only if the team allows it; a member can only be given,
or taken out of, a role below the one acting. Every service asks `require` before it acts, so
the HTTP API, the pages and any later transport share the same checks; `GET /api/v1/authz/
matrix` and `docs/permissions.md` are drawn from these tables (a test fails when they drift).

Nothing here is cached with the caller: the subject's platform role is the account's as read
for this request, and its team role is read with the team, so a changed or removed role takes
effect on the next request.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Final

import msgspec

from waymark.kernel.errors import Forbidden, NotFound


class Action(StrEnum):
    # The platform (the resource is `PLATFORM`).
    TEAMS_CREATE = "teams.create"
    USERS_READ = "users.read"
    ROLES_GRANT = "roles.grant"
    # A learner's own things (the resource is an `Owned` one).
    OWN_READ = "own.read"
    OWN_WRITE = "own.write"
    # A team (the resource is a `Team`; a `Member` for what is done to one member).
    TEAM_READ = "team.read"
    TEAM_UPDATE = "team.update"
    TEAM_DELETE = "team.delete"
    TEAM_TRANSFER = "team.transfer"
    TEAM_LEAVE = "team.leave"
    MEMBERS_READ = "team.members.read"
    MEMBERS_MANAGE = "team.members.manage"
    INVITES_READ = "team.invites.read"
    INVITES_MANAGE = "team.invites.manage"
    ROADMAPS_MANAGE = "team.roadmaps.manage"
    PROGRESS_READ = "team.progress.read"
    REMINDERS_SEND = "team.reminders.send"
    WEBHOOKS_MANAGE = "team.webhooks.manage"


class PlatformRole(StrEnum):
    LEARNER = "learner"
    EDITOR = "editor"
    ADMIN = "admin"


class TeamRole(StrEnum):
    MEMBER = "member"
    MANAGER = "manager"
    ADMIN = "admin"
    OWNER = "owner"


A = Action
_LEARNER = frozenset({A.TEAMS_CREATE})
PLATFORM_ROLES: Final[dict[PlatformRole, frozenset[Action]]] = {
    PlatformRole.LEARNER: _LEARNER,
    # Editors curate roadmaps; today that is done with `waymark roadmaps import`, so the role
    # adds nothing over HTTP yet.
    PlatformRole.EDITOR: _LEARNER,
    PlatformRole.ADMIN: _LEARNER | {A.USERS_READ, A.ROLES_GRANT},
}
"""What each platform role may do on the platform. A platform admin runs the platform: it
gets no standing in any team (a team's members and progress are the team's)."""

_MEMBER = frozenset({A.TEAM_READ, A.TEAM_LEAVE, A.MEMBERS_READ})
_MANAGER = _MEMBER | {A.PROGRESS_READ, A.REMINDERS_SEND, A.INVITES_READ}
_ADMIN = _MANAGER | {
    A.TEAM_UPDATE,
    A.MEMBERS_MANAGE,
    A.INVITES_MANAGE,
    A.ROADMAPS_MANAGE,
    A.WEBHOOKS_MANAGE,
}
TEAM_ROLES: Final[dict[TeamRole, frozenset[Action]]] = {
    TeamRole.MEMBER: _MEMBER,
    TeamRole.MANAGER: _MANAGER,
    TeamRole.ADMIN: _ADMIN,
    TeamRole.OWNER: _ADMIN | {A.TEAM_DELETE, A.TEAM_TRANSFER},
}
"""What each role in a team may do in that team."""

PLATFORM_ROLE_OF: Final[dict[str, PlatformRole]] = {role.value: role for role in PlatformRole}
TEAM_ROLE_OF: Final[dict[str, TeamRole]] = {role.value: role for role in TeamRole}
"""Each role by its stored text: a lookup, where `TeamRole(text)` costs ten times more (read
for every member of a team's report, and with every signed-in request's account)."""

RANK: Final[dict[TeamRole, int]] = {role: rank for rank, role in enumerate(TeamRole)}
"""Team roles in order: member < manager < admin < owner."""

RULES: Final[tuple[str, ...]] = (
    "own.read and own.write (a note, a resource, one's own progress): the owner only; no role"
    " reaches another's.",
    "team.progress.read: the team's managers and up, and its members too when the team lets"
    " members see each other's progress.",
    "team.members.manage: only on a member whose role is below the actor's, and only to a"
    " role below the actor's (an admin manages managers and members; the owner everyone);"
    " the owner role moves only by team.transfer.",
    "team.invites.manage: an invite offers a role below the inviter's, as team.members.manage"
    " would give it (an admin invites managers and members; the owner admins too), and an"
    " invite is resent or revoked only by someone above the role it offers.",
    "team.leave: anyone but the last owner, who must transfer the team or delete it.",
    "Hidden topics: a topic a team hides is left out of that team's views only.",
    "Outside a team (no role in it, platform admins included) the team does not exist:"
    " every team action answers 404, so ids cannot be probed.",
)
"""The attribute rules, as `docs/permissions.md` and the matrix endpoint state them."""


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    """Who acts: an account, its platform role, and its role in the team concerned (if any)."""

    account_id: uuid.UUID
    platform_role: PlatformRole = PlatformRole.LEARNER
    team_role: TeamRole | None = None


class Platform(msgspec.Struct, frozen=True):
    """The platform itself (creating a team, listing users, granting roles)."""


PLATFORM: Final = Platform()


class Owned(msgspec.Struct, frozen=True, kw_only=True):
    """A learner's own thing: a note, a resource, their progress."""

    owner_id: uuid.UUID


class Team(msgspec.Struct, frozen=True, kw_only=True):
    team_id: uuid.UUID
    members_see_progress: bool = False


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """One member of a team, as the target of a change (`to_role`: the role it would get;
    None when the member is removed). An invite is checked as the member it would make
    (`account_id=INVITEE`, `role` and `to_role` the role it offers)."""

    team: Team
    account_id: uuid.UUID
    role: TeamRole
    to_role: TeamRole | None = None


INVITEE: Final = uuid.UUID(int=0)
"""The account an invite would make a member of the team: nobody yet."""

Resource = Platform | Owned | Team | Member


def can(subject: Subject, action: Action, resource: Resource) -> bool:
    match resource:
        case Platform():
            return action in PLATFORM_ROLES[subject.platform_role]
        case Owned(owner_id=owner_id):
            return action in (A.OWN_READ, A.OWN_WRITE) and subject.account_id == owner_id
        case Team():
            return _in_team(subject, action, resource)
        case Member():
            return _on_member(subject, action, resource)
    return False


def require(subject: Subject, action: Action, resource: Resource) -> None:
    """`can`, or the error to answer: 404 to whoever has no standing in the team (or does not
    own the thing), so its existence is not given away; 403 to a member whose role falls
    short."""
    if can(subject, action, resource):
        return
    if isinstance(resource, Owned) or (
        isinstance(resource, Team | Member) and subject.team_role is None
    ):
        raise NotFound("no such thing here")
    raise Forbidden(f"your role does not allow {action}")


def _in_team(subject: Subject, action: Action, team: Team) -> bool:
    role = subject.team_role
    if role is None:
        return False
    if action in TEAM_ROLES[role]:
        return True
    return action == A.PROGRESS_READ and team.members_see_progress


def _on_member(subject: Subject, action: Action, member: Member) -> bool:
    role = subject.team_role
    if role is None or action not in (A.MEMBERS_MANAGE, A.INVITES_MANAGE):
        return False
    if action not in TEAM_ROLES[role] or member.account_id == subject.account_id:
        return False
    above_target = RANK[role] > RANK[member.role]
    above_new = member.to_role is None or (
        member.to_role != TeamRole.OWNER and RANK[role] > RANK[member.to_role]
    )
    return above_target and above_new


def last_owner_may_not_leave(role: TeamRole, owners: int) -> bool:
    """The `team.leave` rule: true when this member is the team's last owner."""
    return role == TeamRole.OWNER and owners <= 1


class Matrix(msgspec.Struct, frozen=True, kw_only=True):
    """The role-by-action tables and the attribute rules, as the code enforces them."""

    platform_roles: dict[str, list[str]]
    team_roles: dict[str, list[str]]
    rules: list[str]


def matrix() -> Matrix:
    return Matrix(
        platform_roles={str(r): sorted(map(str, acts)) for r, acts in PLATFORM_ROLES.items()},
        team_roles={str(r): sorted(map(str, acts)) for r, acts in TEAM_ROLES.items()},
        rules=list(RULES),
    )


def matrix_markdown() -> str:
    """`docs/permissions.md`, generated (`waymark authz matrix --markdown`)."""
    lines = [
        "# Permissions",
        "",
        "Generated from `src/waymark/kernel/authz.py` by `waymark authz matrix --markdown`;"
        " `GET /api/v1/authz/matrix` answers the same tables, and a test fails when either"
        " drifts from the code.",
        "",
    ]
    for title, roles in (("Platform roles", PLATFORM_ROLES), ("Team roles", TEAM_ROLES)):
        actions = sorted({str(a) for acts in roles.values() for a in acts})
        lines += [f"## {title}", "", "| action | " + " | ".join(roles) + " |"]
        lines.append("|---|" + "---|" * len(roles))
        for action in actions:
            marks = ["yes" if action in acts else "" for acts in roles.values()]
            lines.append(f"| `{action}` | " + " | ".join(marks) + " |")
        lines.append("")
    lines += ["## Attribute rules", ""]
    lines += [f"- {rule}" for rule in RULES]
    return "\n".join(lines) + "\n"
