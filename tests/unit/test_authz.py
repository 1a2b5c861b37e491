"""The policy (`kernel.authz`) on its own: every role against every action, the attribute
rules, the 404/403 split, and the generated `docs/permissions.md` against the code."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest

from waymark.kernel.authz import (
    INVITEE,
    PLATFORM,
    PLATFORM_ROLES,
    RANK,
    TEAM_ROLES,
    Action,
    Member,
    Owned,
    PlatformRole,
    Subject,
    Team,
    TeamRole,
    can,
    last_owner_may_not_leave,
    matrix,
    matrix_markdown,
    require,
)
from waymark.kernel.errors import Forbidden, NotFound

ME = uuid.uuid4()
OTHER = uuid.uuid4()
TEAM = Team(team_id=uuid.uuid4())
TEAM_ACTIONS = [a for a in Action if a.value.startswith("team.")]


def subject(team_role: TeamRole | None = None, platform: PlatformRole = PlatformRole.LEARNER):
    return Subject(account_id=ME, platform_role=platform, team_role=team_role)


@pytest.mark.parametrize(
    ("role", "action"), list(itertools.product(TeamRole, TEAM_ACTIONS)), ids=str
)
def test_a_team_role_may_do_exactly_what_its_row_says(role: TeamRole, action: Action) -> None:
    allowed = can(subject(role), action, TEAM)
    assert allowed == (action in TEAM_ROLES[role])


@pytest.mark.parametrize(("platform", "action"), list(itertools.product(PlatformRole, Action)))
def test_outside_a_team_nobody_has_any_standing_in_it(
    platform: PlatformRole, action: Action
) -> None:
    outsider = subject(None, platform)
    assert not can(outsider, action, TEAM)
    if action in TEAM_ACTIONS:
        with pytest.raises(NotFound):
            require(outsider, action, TEAM)


def test_a_role_short_of_an_action_is_refused_with_403_not_404() -> None:
    with pytest.raises(Forbidden):
        require(subject(TeamRole.MEMBER), Action.TEAM_DELETE, TEAM)
    require(subject(TeamRole.OWNER), Action.TEAM_DELETE, TEAM)


def test_each_team_role_may_do_everything_the_role_below_it_may() -> None:
    ordered = sorted(TeamRole, key=RANK.__getitem__)
    for lower, higher in itertools.pairwise(ordered):
        assert TEAM_ROLES[lower] < TEAM_ROLES[higher]
    assert PLATFORM_ROLES[PlatformRole.LEARNER] <= PLATFORM_ROLES[PlatformRole.EDITOR]
    assert PLATFORM_ROLES[PlatformRole.EDITOR] < PLATFORM_ROLES[PlatformRole.ADMIN]


@pytest.mark.parametrize("platform", list(PlatformRole))
def test_platform_actions_follow_the_platform_role(platform: PlatformRole) -> None:
    for action in (Action.TEAMS_CREATE, Action.USERS_READ, Action.ROLES_GRANT):
        assert can(subject(platform=platform), action, PLATFORM) == (
            action in PLATFORM_ROLES[platform]
        )
    assert can(subject(platform=PlatformRole.ADMIN), Action.ROLES_GRANT, PLATFORM)
    assert not can(subject(platform=PlatformRole.EDITOR), Action.ROLES_GRANT, PLATFORM)


@pytest.mark.parametrize("platform", list(PlatformRole))
@pytest.mark.parametrize("team_role", [None, *TeamRole])
def test_a_note_is_its_owners_alone(platform: PlatformRole, team_role: TeamRole | None) -> None:
    anyone = subject(team_role, platform)
    for action in (Action.OWN_READ, Action.OWN_WRITE):
        assert can(anyone, action, Owned(owner_id=ME))
        assert not can(anyone, action, Owned(owner_id=OTHER))
        with pytest.raises(NotFound):
            require(anyone, action, Owned(owner_id=OTHER))


def test_members_see_the_teams_progress_only_if_the_team_allows_it() -> None:
    open_team = Team(team_id=TEAM.team_id, members_see_progress=True)
    assert not can(subject(TeamRole.MEMBER), Action.PROGRESS_READ, TEAM)
    assert can(subject(TeamRole.MEMBER), Action.PROGRESS_READ, open_team)
    assert can(subject(TeamRole.MANAGER), Action.PROGRESS_READ, TEAM)
    assert not can(subject(None), Action.PROGRESS_READ, open_team)


@pytest.mark.parametrize(
    ("actor", "target", "to_role"),
    list(itertools.product(TeamRole, TeamRole, [None, *TeamRole])),
    ids=str,
)
def test_a_member_is_managed_only_below_the_actors_role(
    actor: TeamRole, target: TeamRole, to_role: TeamRole | None
) -> None:
    member = Member(team=TEAM, account_id=OTHER, role=target, to_role=to_role)
    allowed = can(subject(actor), Action.MEMBERS_MANAGE, member)
    expected = (
        Action.MEMBERS_MANAGE in TEAM_ROLES[actor]
        and RANK[actor] > RANK[target]
        and (to_role is None or (to_role != TeamRole.OWNER and RANK[actor] > RANK[to_role]))
    )
    assert allowed == expected


@pytest.mark.parametrize(("actor", "offered"), list(itertools.product(TeamRole, TeamRole)), ids=str)
def test_an_invite_offers_only_a_role_below_the_inviters(
    actor: TeamRole, offered: TeamRole
) -> None:
    invite = Member(team=TEAM, account_id=INVITEE, role=offered, to_role=offered)
    allowed = can(subject(actor), Action.INVITES_MANAGE, invite)
    expected = (
        Action.INVITES_MANAGE in TEAM_ROLES[actor]
        and offered != TeamRole.OWNER
        and RANK[actor] > RANK[offered]
    )
    assert allowed == expected
    # Reading invites or any other action on a member is not managing one.
    assert not can(subject(actor), Action.INVITES_READ, invite)


def test_nobody_manages_themselves_and_roles_given_as_text_count_the_same() -> None:
    me = Member(team=TEAM, account_id=ME, role=TeamRole.MEMBER, to_role=None)
    assert not can(subject(TeamRole.OWNER), Action.MEMBERS_MANAGE, me)
    # Rows read back from the database carry the role as text.
    stored = Subject(account_id=ME, team_role="admin")  # type: ignore[arg-type]
    member = Member(team=TEAM, account_id=OTHER, role="member", to_role="manager")  # type: ignore[arg-type]
    assert can(stored, Action.MEMBERS_MANAGE, member)


def test_the_last_owner_may_not_leave() -> None:
    assert last_owner_may_not_leave(TeamRole.OWNER, owners=1)
    assert not last_owner_may_not_leave(TeamRole.OWNER, owners=2)
    assert not last_owner_may_not_leave(TeamRole.MEMBER, owners=1)


def test_the_matrix_is_the_tables() -> None:
    answer = matrix()
    assert answer.team_roles["owner"] == sorted(map(str, TEAM_ROLES[TeamRole.OWNER]))
    assert set(answer.platform_roles) == {"learner", "editor", "admin"}


def test_docs_permissions_md_is_generated_from_the_code() -> None:
    doc = Path(__file__).parents[2] / "docs" / "permissions.md"
    assert doc.read_text() == matrix_markdown(), (
        "docs/permissions.md drifted: run `waymark authz matrix --markdown > docs/permissions.md`"
    )
