"""Opening a live stream (`Live.open`): who may follow which channel, the caps, and one
cursor resuming every channel; on the embedded channels (SQL), SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete

from tests.integration.progress_support import new_account
from tests.integration.teams_support import seed_team, team_services
from waymark.features.live.errors import TooManyStreams
from waymark.features.live.service import Item, Live, LiveStream
from waymark.features.teams.messages import MEMBERSHIP_CHANGED
from waymark.features.teams.tables import team_members
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.kernel.errors import Forbidden, NotFound, ValidationFailed
from waymark.settings import LiveSettings

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.fixture
async def live(db: Database) -> AsyncIterator[Live]:
    channels = SqlLiveChannels(db, poll_interval=0.02)
    async with team_services(db) as (teams, _):
        settings = LiveSettings(max_connections_per_account=2, max_team_channels=2)
        yield Live(channels=channels, teams=teams, settings=settings)
    await channels.aclose()


async def items(stream: LiveStream, n: int) -> list[Item]:
    got = []
    for _ in range(n):
        item = await stream.next(5)
        assert item is not None, got
        got.append(item)
    return got


async def test_a_team_is_followed_only_by_who_may_see_its_progress(
    live: Live, db: Database
) -> None:
    owner, member, stranger = [await new_account(db) for _ in range(3)]
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner", member.id: "member"}, roadmap="backend")
    with pytest.raises(NotFound):
        await live.open(stranger, teams=[team])
    with pytest.raises(Forbidden):  # members see the team's progress only if it says so
        await live.open(member, teams=[team])
    stream = await live.open(owner, teams=[team])
    assert stream.channels == sorted([f"user:{owner.id}", f"team:{team}"])
    await stream.aclose()
    with pytest.raises(ValidationFailed):
        await live.open(owner, teams=[uuid.uuid4() for _ in range(3)])


async def test_an_account_holds_only_so_many_streams(live: Live, db: Database) -> None:
    learner = await new_account(db)
    first, second = await live.open(learner), await live.open(learner)
    with pytest.raises(TooManyStreams):
        await live.open(learner)
    await first.aclose()
    await first.aclose()  # twice changes nothing
    third = await live.open(learner)
    assert live.open_streams == 2
    for stream in (second, third):
        await stream.aclose()
    assert live.open_streams == 0


async def test_one_cursor_resumes_every_channel(live: Live, db: Database) -> None:
    owner = await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    mine, ours = f"user:{owner.id}", f"team:{team}"
    stream = await live.open(owner, teams=[team])
    await live.channels.publish(mine, "x", {"n": 1}, dedupe_key="1")
    await live.channels.publish(ours, "x", {"n": 2}, dedupe_key="2")
    got = await items(stream, 2)
    cursor = got[-1].cursor
    await stream.aclose()
    await live.channels.publish(ours, "x", {"n": 3}, dedupe_key="3")
    await live.channels.publish(mine, "x", {"n": 4}, dedupe_key="4")
    resumed = await live.open(owner, teams=[team], cursor=cursor)
    later = await items(resumed, 2)
    # In order per channel (across channels, no order is promised).
    assert sorted((i.channel, i.data["n"]) for i in later) == sorted([(ours, 3), (mine, 4)])
    assert await resumed.next(0.2) is None
    await resumed.aclose()


async def test_a_cursor_not_ours_asks_for_a_refetch_of_every_channel(
    live: Live, db: Database
) -> None:
    learner = await new_account(db)
    stream = await live.open(learner, cursor="not a cursor!")
    (resync,) = await items(stream, 1)
    assert (resync.kind, resync.channel) == ("resync", f"user:{learner.id}")
    await stream.aclose()


async def test_a_member_who_lost_access_stops_receiving_at_the_control_event(
    live: Live, db: Database
) -> None:
    owner, admin = await new_account(db), await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner", admin.id: "admin"}, roadmap="backend")
    channel = f"team:{team}"
    stream = await live.open(admin, teams=[team])
    # About someone else: passed on, nothing closes.
    other = {"team_id": str(team), "account_id": str(owner.id), "change": "role-changed"}
    await live.channels.publish(channel, MEMBERSHIP_CHANGED, other, dedupe_key="a")
    (passed,) = await items(stream, 1)
    assert passed.kind == MEMBERSHIP_CHANGED
    async with db.transaction() as conn:
        await conn.execute(delete(team_members).where(team_members.c.user_id == admin.id))
    removed = {"team_id": str(team), "account_id": str(admin.id), "change": "removed"}
    await live.channels.publish(channel, MEMBERSHIP_CHANGED, removed, dedupe_key="b")
    await live.channels.publish(channel, "progress.x", {"secret": True}, dedupe_key="c")
    (closed,) = await items(stream, 1)
    assert (closed.kind, closed.channel, closed.data) == (
        "channel-closed",
        channel,
        {"reason": "forbidden"},
    )
    assert stream.channels == [f"user:{admin.id}"]
    assert await stream.next(0.3) is None
    await stream.aclose()
