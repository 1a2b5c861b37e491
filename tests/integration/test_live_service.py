"""Opening a live stream (`Live.open`): who may follow which channel, the caps, and one
cursor resuming every channel; on the embedded channels (SQL), SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete

from tests.integration.progress_support import new_account
from tests.integration.teams_support import seed_team, team_services
from waymark.features.live.errors import TooManyStreams
from waymark.features.live.presence import PRESENCE_CHANGED
from waymark.features.live.service import Item, Live, LiveStream
from waymark.features.teams.messages import MEMBERSHIP_CHANGED
from waymark.features.teams.tables import team_members
from waymark.infra.sql.database import Database
from waymark.infra.sql.live import SqlLiveChannels
from waymark.infra.sql.presence import SqlPresence
from waymark.kernel.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from waymark.kernel.identity import Account
from waymark.kernel.live import CloseReason
from waymark.kernel.presence import Present
from waymark.settings import LiveSettings

pytestmark = pytest.mark.usefixtures("backend_roadmap")


@pytest.fixture
async def live(db: Database) -> AsyncIterator[Live]:
    channels = SqlLiveChannels(db, poll_interval=0.02)
    async with team_services(db) as (teams, _):
        settings = LiveSettings(max_connections_per_account=2, max_team_channels=2)
        yield Live(
            channels=channels,
            presence=SqlPresence(db),
            teams=teams,
            settings=settings,
            clock=time.time,
        )
    await channels.aclose()


async def items(stream: LiveStream, n: int, *, presence: bool = False) -> list[Item]:
    """The next `n` items; those of presence (`presence.changed`) skipped unless asked for."""
    got: list[Item] = []
    while len(got) < n:
        item = await stream.next(5)
        assert item is not None, got
        if presence or item.kind != PRESENCE_CHANGED:
            got.append(item)
    return got


async def quiet(stream: LiveStream) -> bool:
    """Whether nothing but presence comes within 0.3 s."""
    while (item := await stream.next(0.3)) is not None:
        if item.kind != PRESENCE_CHANGED:
            return False
    return True


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
    assert await quiet(resumed)
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
    assert await quiet(stream)
    await stream.aclose()


async def test_events_written_as_they_arrive_keep_the_cursor_and_the_control_check(
    live: Live, db: Database
) -> None:
    """A transport that writes at once gets plain events as they arrive, each with the
    cursor that resumes after it; a membership change still goes through `next` (its check
    awaits the database), and nothing of the channel is written past a removal."""
    owner, admin = await new_account(db), await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner", admin.id: "admin"}, roadmap="backend")
    channel = f"team:{team}"
    stream = await live.open(admin, teams=[team])
    written: list[Item] = []

    def write(item: Item) -> bool:
        if item.kind != PRESENCE_CHANGED:
            written.append(item)
        return True

    assert await quiet(stream)
    stream.deliver_directly(write)
    waiting = asyncio.ensure_future(stream.next(2.0))  # the events below are written at once
    await asyncio.sleep(0.05)
    plain = [
        await live.channels.publish(channel, "progress.x", {"n": n}, dedupe_key=f"p{n}")
        for n in range(2)
    ]
    assert await waiting is None
    assert [(item.id, item.data) for item in written] == [
        (plain[0], {"n": 0}),
        (plain[1], {"n": 1}),
    ]
    assert written[-1].cursor == stream.cursor
    resumed = await live.open(admin, teams=[team], cursor=written[0].cursor)
    assert [item.id for item in await items(resumed, 1)] == [plain[1]]
    await resumed.aclose()
    async with db.transaction() as conn:
        await conn.execute(delete(team_members).where(team_members.c.user_id == admin.id))
    removed = {"team_id": str(team), "account_id": str(admin.id), "change": "removed"}
    closing = asyncio.ensure_future(items(stream, 1))  # waiting in `next` again
    await asyncio.sleep(0.05)
    await live.channels.publish(channel, MEMBERSHIP_CHANGED, removed, dedupe_key="removed")
    await live.channels.publish(channel, "progress.x", {"secret": True}, dedupe_key="secret")
    (closed,) = await closing
    assert (closed.kind, closed.channel) == ("channel-closed", channel)
    assert await quiet(stream)
    assert [item.id for item in written] == plain
    await stream.aclose()


async def test_a_team_followed_later_is_checked_capped_and_left(live: Live, db: Database) -> None:
    owner, stranger = await new_account(db), await new_account(db)
    teams = [uuid.uuid4() for _ in range(3)]
    for team in teams:
        await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    elsewhere = uuid.uuid4()
    await seed_team(db, elsewhere, {stranger.id: "owner"}, roadmap="backend")
    stream = await live.open(owner)
    with pytest.raises(NotFound):
        await stream.follow(elsewhere)
    await stream.follow(teams[0])
    await stream.follow(teams[1])
    with pytest.raises(ValidationFailed):  # the cap of team channels (2 here)
        await stream.follow(teams[2])
    await stream.unfollow(f"team:{teams[1]}")
    await stream.unfollow(f"user:{owner.id}")  # the caller's own channel stays
    assert stream.channels == sorted([f"user:{owner.id}", f"team:{teams[0]}"])
    await live.channels.publish(f"team:{teams[1]}", "x", {"n": 1}, dedupe_key="1")
    assert await quiet(stream)
    await stream.aclose()


async def test_following_from_a_cursor_resumes_that_channel(live: Live, db: Database) -> None:
    owner = await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    ours = f"team:{team}"
    first = await live.open(owner, teams=[team])
    await live.channels.publish(ours, "x", {"n": 1}, dedupe_key="1")
    (seen,) = await items(first, 1)
    await first.aclose()
    await live.channels.publish(ours, "x", {"n": 2}, dedupe_key="2")
    second = await live.open(owner)
    await second.follow(team, after=seen.cursor)
    (missed,) = await items(second, 1)
    assert (missed.channel, missed.data) == (ours, {"n": 2})
    await second.unfollow(ours)
    await second.follow(team, after="not a cursor!")
    (resync,) = await items(second, 1)
    assert (resync.kind, resync.channel) == ("resync", ours)
    await second.aclose()


async def test_who_follows_a_team_is_online_and_announced(live: Live, db: Database) -> None:
    owner, admin, stranger = [await new_account(db) for _ in range(3)]
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner", admin.id: "admin"}, roadmap="backend")
    watching = await live.open(owner, teams=[team])
    (alone,) = await items(watching, 1, presence=True)
    assert (alone.kind, alone.data) == (PRESENCE_CHANGED, change(owner, online=True))
    joining = await live.open(admin)
    await joining.follow(team)
    (joined,) = await items(watching, 1, presence=True)
    assert joined.data == change(admin, online=True)
    again = await live.open(admin, teams=[team])  # a second connection: nothing to tell
    assert await live.online(owner, team) == sorted(
        [present(owner), present(admin)], key=lambda p: (p.display_name, p.account_id)
    )
    await joining.aclose()
    await again.aclose()
    (left,) = await items(watching, 1, presence=True)
    assert left.data == change(admin, online=False)
    assert await live.online(owner, team) == [present(owner)]
    with pytest.raises(NotFound):
        await live.online(stranger, team)
    await watching.aclose()


async def test_a_holder_its_process_stopped_refreshing_lapses_and_is_announced(
    live: Live, db: Database
) -> None:
    owner, ghost = await new_account(db), await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner", ghost.id: "member"}, roadmap="backend")
    room = f"team:{team}"
    # What another process left behind when it died: a holder nobody refreshes.
    now = time.time()
    await live.presence.store.enter(
        room, "dead-process", present(ghost), expires_at=now + 5, now=now
    )
    stream = await live.open(owner, teams=[team])
    (first,) = await items(stream, 1, presence=True)
    assert first.data == change(owner, online=True)
    live.presence.clock = lambda: time.time() + 10
    await live.presence.keep()
    (lapsed,) = await items(stream, 1, presence=True)
    assert lapsed.data == change(ghost, online=False)
    assert await live.online(owner, team) == [present(owner)]
    await stream.aclose()


async def test_a_holder_swept_while_its_process_could_not_refresh_it_comes_back(
    live: Live, db: Database
) -> None:
    owner = await new_account(db)
    team = uuid.uuid4()
    await seed_team(db, team, {owner.id: "owner"}, roadmap="backend")
    stream = await live.open(owner, teams=[team])
    (first,) = await items(stream, 1, presence=True)
    assert first.data == change(owner, online=True)
    # Another process swept it: this one had not refreshed it in time (a store outage).
    assert await live.presence.store.sweep(f"team:{team}", now=time.time() + 60)
    assert await live.online(owner, team) == []
    await live.presence.keep()
    (back,) = await items(stream, 1, presence=True)
    assert back.data == change(owner, online=True)
    assert await live.online(owner, team) == [present(owner)]
    await stream.aclose()


def present(account: Account) -> Present:
    return Present(account_id=str(account.id), display_name=account.display_name)


def change(account: Account, *, online: bool) -> dict[str, object]:
    return {"account_id": str(account.id), "display_name": account.display_name, "online": online}


async def test_a_stopping_process_ends_every_stream_with_shutdown_and_refuses_new_ones(
    live: Live, db: Database
) -> None:
    learner = await new_account(db)
    first, second = await live.open(learner), await live.open(learner)

    async def consume(stream: LiveStream) -> CloseReason | None:
        """A transport: reads until the stream ends, then lets go of it."""
        async for _ in stream.subscription:
            pass
        await asyncio.sleep(0.2)  # saying so to its client
        await stream.aclose()
        return stream.closed_reason

    readers = [asyncio.create_task(consume(stream)) for stream in (first, second)]
    started = time.monotonic()
    await live.stop(grace=5)
    assert 0.2 <= time.monotonic() - started < 2  # waited for both, not for the grace
    assert [await reader for reader in readers] == [CloseReason.SHUTDOWN] * 2
    assert live.open_streams == 0
    with pytest.raises(ServiceUnavailable):
        await live.open(learner)


async def test_stopping_waits_no_longer_than_its_grace_for_a_stream_kept_open(
    live: Live, db: Database
) -> None:
    stream = await live.open(await new_account(db))
    started = time.monotonic()
    await live.stop(grace=0.3)  # nobody reads it, nobody lets it go
    assert 0.3 <= time.monotonic() - started < 1.5
    assert stream.closed_reason == CloseReason.SHUTDOWN
    await stream.aclose()
