"""`team-progress-long`: `team-progress` again, the members' histories 300 changes longer.

The very team `team-progress` measured (when it ran before in this run; else one made the
same way): the same 200 members, the same database. Every member who started then makes
300 changes or more through the batch route that end where they began
(`team_progress.lengthen`: passes over their topics, each moving every one a status on): the
same statuses, the same read models, about 55,000 more events in the log. Then the database
is vacuumed, as `team-progress`'s was, and the manager's report measured again. It must
cost what it cost with short histories (issue 13: "its cost must not grow with the length of
members' histories"): compare the two scenarios' req/CPU-s, DB CPU per request and ratio in
one run. `tests/integration/test_teams_progress_cost.py` proves it statement by statement:
the same statements, the same rows read from each table.

Measured at 64 connections only, where the target is: the comparison is the point, and the
setup (about 4,700 batch changes) already takes a minute or two.
"""

from __future__ import annotations

from bench.scenario import AppContext, Scenario, Target, Workload
from bench.scenarios import team_progress

LONGER_BY = 300
FIRST_CLIENT = 0x1100
"""Client addresses of the members' logins here, after `team-progress`'s."""


def prepare(ctx: AppContext) -> Workload:
    return team_progress.prepare_team(ctx, first_client=FIRST_CLIENT, longer_by=LONGER_BY)


SCENARIO = Scenario(
    name="team-progress-long",
    summary=f"team-progress, each started member's history {LONGER_BY} changes longer",
    limit_app=team_progress.SCENARIO.limit_app,
    limit_summary=team_progress.SCENARIO.limit_summary,
    prepare=prepare,
    profiles=("production",),
    targets=(Target(min_ratio=0.4, connections=64),),
    connections=(64,),
)
