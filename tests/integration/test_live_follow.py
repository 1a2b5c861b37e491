"""Following channels on an open stream (`LiveStream.follow` / `unfollow`, what the WebSocket's
`subscribe` and `unsubscribe` call): the same checks as opening one, the cap of team channels,
resuming from a cursor; on the embedded channels (SQL), SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.integration.progress_support import new_account
from tests.integration.teams_support import seed_team, team_services
from tests.integration.test_live_service import items
from waymark.features.live.service import Live
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.kernel.errors import Forbidden, NotFound, ValidationFailed
from waymark.settings import LiveSettings

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.fixture
async def live(db: Database) -> AsyncIterator[Live]:
    channels = SqlLiveChannels(db, poll_interval=0.02)
    async with team_services(db) as (teams, _):
        yield Live(channels=channels, teams=teams, settings=LiveSettings(max_team_channels=1))
    await channels.aclose()


async def test_a_team_is_followed_only_by_who_may_see_its_progress(
    live: Live, db: Database
) -> None:
    owner, member, stranger = [await new_account(db) for _ in range(3)]
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner", member.id: "member"}, roadmap="backend")
    channel = f"team:{team}"
    for who, refusal in ((stranger, NotFound), (member, Forbidden)):
        stream = await live.open(who)
        with pytest.raises(refusal):
            await stream.follow(channel)
        assert stream.channels == [f"user:{who.id}"]
        await stream.aclose()
    stream = await live.open(owner)
    assert await stream.follow(channel.upper().replace("TEAM:", "team:")) == channel
    assert stream.channels == sorted([f"user:{owner.id}", channel])
    await stream.aclose()


async def test_names_that_are_not_ours_or_not_channels_are_refused(
    live: Live, db: Database
) -> None:
    learner, other = await new_account(db), await new_account(db)
    stream = await live.open(learner)
    with pytest.raises(NotFound):
        await stream.follow(f"user:{other.id}")
    for name in ("team:nope", "user:", "lobby", ""):
        with pytest.raises(ValidationFailed):
            await stream.follow(name)
    assert await stream.follow(f"user:{learner.id}") == f"user:{learner.id}"
    await stream.aclose()


async def test_a_stream_follows_only_so_many_teams(live: Live, db: Database) -> None:
    owner = await new_account(db)
    first, second = uuid.uuid4(), uuid.uuid4()
    for team in (first, second):
        await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    stream = await live.open(owner)
    await stream.follow(f"team:{first}")
    with pytest.raises(ValidationFailed):
        await stream.follow(f"team:{second}")
    await stream.unfollow(f"team:{first}")
    assert await stream.follow(f"team:{second}") == f"team:{second}"
    await stream.aclose()


async def test_unfollowing_stops_a_channel_and_following_again_resumes_it(
    live: Live, db: Database
) -> None:
    owner = await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    ours = f"team:{team}"
    stream = await live.open(owner)
    await stream.follow(ours)
    await live.channels.publish(ours, "x", {"n": 1}, dedupe_key="1")
    (first,) = await items(stream, 1)
    await stream.unfollow(ours)
    await live.channels.publish(ours, "x", {"n": 2}, dedupe_key="2")
    await live.channels.publish(ours, "x", {"n": 3}, dedupe_key="3")
    assert await stream.next(0.3) is None
    # Back with the cursor it had: what it missed, in order, once.
    await stream.follow(ours, after=first.cursor)
    assert [item.data["n"] for item in await items(stream, 2)] == [2, 3]
    assert await stream.next(0.2) is None
    await stream.aclose()


async def test_the_cursor_a_stream_opened_with_resumes_channels_followed_later(
    live: Live, db: Database
) -> None:
    owner = await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    ours = f"team:{team}"
    stream = await live.open(owner, teams=[team])
    await live.channels.publish(ours, "x", {"n": 1}, dedupe_key="1")
    (seen,) = await items(stream, 1)
    await stream.aclose()
    await live.channels.publish(ours, "x", {"n": 2}, dedupe_key="2")
    reopened = await live.open(owner, cursor=seen.cursor)
    await reopened.follow(ours)
    (missed,) = await items(reopened, 1)
    assert (missed.channel, missed.data) == (ours, {"n": 2})
    await reopened.aclose()


async def test_a_cursor_not_ours_asks_for_a_refetch_of_the_channel(
    live: Live, db: Database
) -> None:
    owner = await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    stream = await live.open(owner)
    await stream.follow(f"team:{team}", after="garbage")
    (resync,) = await items(stream, 1)
    assert (resync.kind, resync.channel) == ("resync", f"team:{team}")
    await stream.aclose()
