"""Following channels on an open stream (`LiveStream.follow` / `unfollow`, what the WebSocket's
`subscribe` and `unsubscribe` call): the same checks as opening one, the cap of team channels,
resuming from a cursor; on the embedded channels (SQL), SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.progress_support import new_account
from tests.integration.teams_support import seed_team
from tests.integration.test_live_service import items, live, quiet
from waymark.features.live.service import Live
from waymark.infra.sql.database import Database
from waymark.kernel.errors import Forbidden, NotFound, ValidationFailed
from waymark.kernel.identity import Account

__all__ = ["live"]

pytestmark = pytest.mark.usefixtures("backend_roadmap")


async def owned_team(db: Database) -> tuple[Account, str]:
    """A new account, and the channel of a new team it owns that follows the roadmap."""
    owner, team = await new_account(db), uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    return owner, f"team:{team}"


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
            await stream.follow_named(channel)
        assert stream.channels == [f"user:{who.id}"]
        await stream.aclose()
    stream = await live.open(owner)
    assert await stream.follow_named(channel.upper().replace("TEAM:", "team:")) == channel
    assert stream.channels == sorted([f"user:{owner.id}", channel])
    await stream.aclose()


async def test_names_that_are_not_ours_or_not_channels_are_refused(
    live: Live, db: Database
) -> None:
    learner, other = await new_account(db), await new_account(db)
    stream = await live.open(learner)
    with pytest.raises(NotFound):
        await stream.follow_named(f"user:{other.id}")
    for name in ("team:nope", "user:", "lobby", ""):
        with pytest.raises(ValidationFailed):
            await stream.follow_named(name)
    assert await stream.follow_named(f"user:{learner.id}") == f"user:{learner.id}"
    await stream.aclose()


async def test_a_stream_follows_only_so_many_teams(live: Live, db: Database) -> None:
    owner = await new_account(db)
    teams = [uuid.uuid4() for _ in range(3)]  # the fixture's cap is 2
    for team in teams:
        await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    stream = await live.open(owner)
    for team in teams[:2]:
        await stream.follow_named(f"team:{team}")
    with pytest.raises(ValidationFailed):
        await stream.follow_named(f"team:{teams[2]}")
    await stream.unfollow(f"team:{teams[0]}")
    assert await stream.follow_named(f"team:{teams[2]}") == f"team:{teams[2]}"
    await stream.aclose()


async def test_unfollowing_stops_a_channel_and_following_again_resumes_it(
    live: Live, db: Database
) -> None:
    owner, ours = await owned_team(db)
    stream = await live.open(owner)
    await stream.follow_named(ours)
    await live.channels.publish(ours, "x", {"n": 1}, dedupe_key="1")
    (first,) = await items(stream, 1)
    await stream.unfollow(ours)
    await live.channels.publish(ours, "x", {"n": 2}, dedupe_key="2")
    await live.channels.publish(ours, "x", {"n": 3}, dedupe_key="3")
    assert await quiet(stream)
    # Back with the cursor it had: what it missed, in order, once.
    await stream.follow_named(ours, after=first.cursor)
    assert [item.data["n"] for item in await items(stream, 2)] == [2, 3]
    assert await quiet(stream)
    await stream.aclose()


async def test_the_cursor_a_stream_opened_with_resumes_channels_followed_later(
    live: Live, db: Database
) -> None:
    owner, ours = await owned_team(db)
    stream = await live.open(owner)
    await stream.follow_named(ours)
    await live.channels.publish(ours, "x", {"n": 1}, dedupe_key="1")
    (seen,) = await items(stream, 1)
    await stream.aclose()
    await live.channels.publish(ours, "x", {"n": 2}, dedupe_key="2")
    reopened = await live.open(owner, cursor=seen.cursor)
    await reopened.follow_named(ours)
    (missed,) = await items(reopened, 1)
    assert (missed.channel, missed.data) == (ours, {"n": 2})
    await reopened.aclose()


async def test_a_cursor_not_ours_asks_for_a_refetch_of_the_channel(
    live: Live, db: Database
) -> None:
    owner, ours = await owned_team(db)
    stream = await live.open(owner)
    await stream.follow_named(ours, after="garbage")
    (resync,) = await items(stream, 1)
    assert (resync.kind, resync.channel) == ("resync", ours)
    await stream.aclose()
