"""The statements `bench/limits/raw_team_progress.py` runs: the app's, as its report of a
team's progress sends them to PostgreSQL (SQLAlchemy's rendering for the asyncpg dialect,
which `HotRead` sends as it is), so PostgreSQL plans and runs the same work on both sides.
`tests/integration/test_teams_progress_cost.py` holds them to what the app sends.

`learner_rows`, `topic_tallies` and `accounts` take the member ids as one bound parameter
each (`user_id IN ($2::UUID, $3::UUID, ...)`, as SQLAlchemy renders an expanding IN), so
their text depends on the team's size only: asyncpg prepares each once per connection, as
on the app's side.
"""

from __future__ import annotations

ACCOUNT_COLUMNS = (
    "users.id, users.email, users.display_name, users.time_zone, "
    "users.email_verified_at IS NOT NULL AS email_verified, "
    "users.disabled_at IS NOT NULL AS disabled, users.platform_role, users.team_reminders, "
    "users.weekly_digest, users.tokens_valid_after, users.created_at"
)
ACCOUNT = f"SELECT {ACCOUNT_COLUMNS} \nFROM users \nWHERE users.id = $1::UUID"
STANDING = (
    "SELECT teams.id, teams.name, teams.members_see_progress, teams.created_at, "
    "teams.updated_at, team_members.role \n"
    "FROM teams LEFT OUTER JOIN team_members ON team_members.team_id = teams.id "
    "AND team_members.user_id = $1::UUID \n"
    "WHERE teams.id = $2::UUID"
)
ASSIGNED = (
    "SELECT team_roadmaps.roadmap_id, team_roadmaps.slug, team_roadmaps.assigned_at, "
    "team_hidden_topics.topic_key \n"
    "FROM team_roadmaps LEFT OUTER JOIN team_hidden_topics ON "
    "team_hidden_topics.team_id = team_roadmaps.team_id "
    "AND team_hidden_topics.roadmap_id = team_roadmaps.roadmap_id \n"
    "WHERE team_roadmaps.team_id = $1::UUID AND team_roadmaps.slug = $2::VARCHAR "
    "ORDER BY team_roadmaps.slug, team_hidden_topics.topic_key"
)
MEMBERS = (
    "SELECT team_members.user_id AS account_id, team_members.role, team_members.joined_at \n"
    "FROM team_members \n"
    "WHERE team_members.team_id = $1::UUID "
    "ORDER BY team_members.joined_at, team_members.user_id"
)


def _ids(first: int, count: int) -> str:
    """`$first::UUID, ...`: an expanding IN of `count` account ids, as SQLAlchemy renders it."""
    return ", ".join(f"${n}::UUID" for n in range(first, first + count))


def learner_rows(count: int) -> str:
    return (
        "SELECT roadmap_progress.user_id, roadmap_progress.done, roadmap_progress.learning, "
        "roadmap_progress.skipped, roadmap_progress.last_activity_at \n"
        "FROM roadmap_progress \n"
        "WHERE roadmap_progress.roadmap_id = $1::INTEGER "
        f"AND roadmap_progress.user_id IN ({_ids(2, count)})"
    )


def topic_tallies(count: int) -> str:
    return (
        "SELECT topic_progress.topic_key, topic_progress.status, count(*) AS n \n"
        "FROM topic_progress \n"
        "WHERE topic_progress.roadmap_id = $1::INTEGER "
        f"AND topic_progress.user_id IN ({_ids(3, count)}) "
        "AND topic_progress.status != $2::VARCHAR "
        "GROUP BY topic_progress.topic_key, topic_progress.status"
    )


def accounts(count: int) -> str:
    return f"SELECT {ACCOUNT_COLUMNS} \nFROM users \nWHERE users.id IN ({_ids(1, count)})"


def statements(members: int) -> list[str]:
    """Every statement the limit runs for a team of `members`, in order."""
    return [
        ACCOUNT,
        STANDING,
        ASSIGNED,
        MEMBERS,
        learner_rows(members),
        topic_tallies(members),
        accounts(members),
    ]


class Sized:
    """The statements whose text depends on the team's size, rendered once per size."""

    def __init__(self) -> None:
        self.rendered: dict[int, tuple[str, str, str]] = {}

    def __call__(self, count: int) -> tuple[str, str, str]:
        found = self.rendered.get(count)
        if found is None:
            found = self.rendered[count] = (
                learner_rows(count),
                topic_tallies(count),
                accounts(count),
            )
        return found
