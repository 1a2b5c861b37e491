"""The transactional outbox on SQLite and PostgreSQL: written with the change or not at all,
delivered after commit, retried with growing backoff, dead-lettered, taken over after a crash.

Time is driven through `run_once(now)`; nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import select, update

from tests.recording import RecordingDatabase
from waymark.infra.outbox import (
    DEAD,
    DONE,
    PENDING,
    HandlerRegistry,
    Outbox,
    OutboxMessage,
    OutboxRelay,
    PermanentFailure,
    RetryPolicy,
)
from waymark.infra.outbox.outbox import new_message_id
from waymark.infra.outbox.relay import RelayReport
from waymark.infra.outbox.tables import outbox as outbox_table
from waymark.infra.sql.database import Database
from waymark.kernel.context import request_context
from waymark.settings import OutboxSettings

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
KIND = "test.echo"


class Greeting(msgspec.Struct, frozen=True):
    name: str
    times: int = 1


class Recorder:
    """A handler that remembers what it saw and fails the first `failures` attempts."""

    def __init__(self, failures: int = 0, error: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.error = error
        self.seen: list[OutboxMessage] = []

    async def __call__(self, message: OutboxMessage) -> None:
        self.seen.append(message)
        if len(self.seen) <= self.failures:
            raise self.error(f"boom {len(self.seen)}")


def relay_for(db: Database, handler: Any, kind: str = KIND, **options: Any) -> OutboxRelay:
    handlers = HandlerRegistry()
    handlers.register(kind, handler)
    options.setdefault("relay_id", "relay-test")
    return OutboxRelay(db, handlers, **options)


async def row(db: Database, message_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        found = await Outbox.get(conn, message_id)
    assert found is not None
    return found


async def enqueue(db: Database, payload: Any = None, **options: Any) -> str | None:
    async with db.transaction() as conn:
        return await Outbox().enqueue(conn, KIND, payload or {"n": 1}, now=T0, **options)


async def test_a_rolled_back_enqueue_leaves_nothing(db: Database) -> None:
    outbox = Outbox()
    handler = Recorder()

    async def change_that_fails() -> None:
        async with db.transaction() as conn:
            await outbox.enqueue(conn, KIND, {"n": 1}, now=T0)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        await change_that_fails()

    async with db.read() as conn:
        assert await Outbox.counts(conn) == {PENDING: 0, DONE: 0, DEAD: 0}
    assert (await relay_for(db, handler).run_once(T0)).claimed == 0
    assert handler.seen == []


async def test_committed_messages_are_delivered_once_after_commit(db: Database) -> None:
    outbox = Outbox()
    handler = Recorder()
    async with db.transaction() as conn:
        first = await outbox.enqueue(conn, KIND, Greeting("ada", 2), now=T0, correlation_id="req-1")
        second = await outbox.enqueue(conn, KIND, {"name": "grace"}, now=T0)
        # Written on the caller's connection, not committed: another connection sees nothing.
        if not db.is_sqlite:  # SQLite's write lock would make the reader wait instead
            async with db.read() as other:
                assert await Outbox.counts(other) == {PENDING: 0, DONE: 0, DEAD: 0}
    relay = relay_for(db, handler)

    report = await relay.run_once(T0)
    assert (report.claimed, report.delivered, report.retried, report.dead) == (2, 2, 0, 0)
    again = await relay.run_once(T0 + timedelta(days=1))
    assert again.claimed == 0

    by_id = {m.id: m for m in handler.seen}
    assert set(by_id) == {first, second}
    assert first is not None
    assert by_id[first].decode(Greeting) == Greeting("ada", 2)
    assert by_id[first].correlation_id == "req-1"
    assert by_id[first].attempt == 1
    assert by_id[first].created_at == T0
    stored = await row(db, first)
    assert stored["state"] == DONE
    assert stored["processed_at"] == T0
    assert stored["locked_until"] is None
    assert stored["locked_by"] is None
    assert stored["attempts"] == 1


async def test_a_round_claims_at_most_a_batch_oldest_first(db: Database) -> None:
    """On PostgreSQL a round claimed 5 of 7 due messages with a batch of 2: the planner
    re-ran the `LIMIT ... FOR UPDATE SKIP LOCKED` subquery for each row it updated."""
    ids = [await enqueue(db, {"n": n}, available_at=T0 + timedelta(seconds=n)) for n in range(7)]
    handler = Recorder()
    relay = relay_for(db, handler, batch_size=2)
    rounds = []
    for _ in range(5):
        await relay.run_once(T0 + timedelta(minutes=1))
        rounds.append({m.id for m in handler.seen})
        handler.seen.clear()
    assert rounds == [set(ids[0:2]), set(ids[2:4]), set(ids[4:6]), {ids[6]}, set()]


def test_message_ids_are_time_ordered_uuid7s() -> None:
    ids = [new_message_id(T0 + timedelta(milliseconds=n)) for n in range(5)]
    assert ids == sorted(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert len(set(ids + [new_message_id(T0) for _ in range(100)])) == 105


async def test_failures_are_retried_with_growing_backoff(db: Database) -> None:
    handler = Recorder(failures=2)
    policy = RetryPolicy(base=10, cap=1000, max_attempts=5, jitter=0.25)
    relay = relay_for(db, handler, policy=policy)
    message_id = await enqueue(db)
    assert message_id is not None

    first = await relay.run_once(T0)
    assert (first.claimed, first.retried) == (1, 1)
    after_first = await row(db, message_id)
    assert after_first["state"] == PENDING
    assert after_first["attempts"] == 1
    assert after_first["last_error"] == "RuntimeError: boom 1"
    assert after_first["locked_until"] is None
    first_delay = (after_first["available_at"] - T0).total_seconds()
    assert 7.5 <= first_delay <= 10

    # Not due yet: nothing happens a moment before the retry time.
    almost = after_first["available_at"] - timedelta(milliseconds=1)
    assert (await relay.run_once(almost)).claimed == 0

    second_at = after_first["available_at"]
    assert (await relay.run_once(second_at)).retried == 1
    after_second = await row(db, message_id)
    assert after_second["last_error"] == "RuntimeError: boom 2"
    second_delay = (after_second["available_at"] - second_at).total_seconds()
    assert 15 <= second_delay <= 20
    assert second_delay > first_delay

    third = await relay.run_once(after_second["available_at"])
    assert third.delivered == 1
    done = await row(db, message_id)
    assert done["state"] == DONE
    assert done["attempts"] == 3
    assert [m.attempt for m in handler.seen] == [1, 2, 3]
    assert {m.id for m in handler.seen} == {message_id}  # one stable id across retries


def test_backoff_grows_until_the_cap_and_jitter_only_shortens() -> None:
    policy = RetryPolicy(base=2, cap=60, max_attempts=20, jitter=0.5)
    ceilings = [policy.delay(n, 0.0) for n in range(1, 9)]
    assert ceilings == [2, 4, 8, 16, 32, 60, 60, 60]
    assert [policy.delay(n, 0.999) for n in (1, 2)] == pytest.approx([1.001, 2.002])
    assert policy.delay(10_000, 0.0) == 60  # no overflow on absurd attempt numbers
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.0)


async def test_a_message_failing_every_time_goes_dead_with_payload_and_error(
    db: Database,
) -> None:
    handler = Recorder(failures=99)
    relay = relay_for(db, handler, policy=RetryPolicy(base=1, cap=5, max_attempts=3))
    message_id = await enqueue(db, {"to": "ada@example.com"})
    assert message_id is not None

    now = T0
    outcomes = []
    for _ in range(3):
        report = await relay.run_once(now)
        outcomes.append((report.retried, report.dead))
        now = (await row(db, message_id))["available_at"]
    assert outcomes == [(1, 0), (1, 0), (0, 1)]

    dead = await row(db, message_id)
    assert dead["state"] == DEAD
    assert dead["attempts"] == 3
    assert dead["last_error"] == "RuntimeError: boom 3"
    assert msgspec.json.decode(dead["payload"]) == {"to": "ada@example.com"}
    assert dead["processed_at"] is not None
    assert (await relay.run_once(now + timedelta(days=30))).claimed == 0
    assert len(handler.seen) == 3

    # An operator can put a dead letter back in line.
    async with db.transaction() as conn:
        assert await Outbox.retry_dead(conn, message_id, now=now)
    handler.failures = 0
    assert (await relay.run_once(now)).delivered == 1
    assert (await row(db, message_id))["state"] == DONE


async def test_a_permanent_failure_is_not_retried(db: Database) -> None:
    handler = Recorder(failures=1, error=PermanentFailure)
    relay = relay_for(db, handler, policy=RetryPolicy(max_attempts=10))
    message_id = await enqueue(db)
    assert message_id is not None

    assert (await relay.run_once(T0)).dead == 1
    dead = await row(db, message_id)
    assert (dead["state"], dead["attempts"]) == (DEAD, 1)
    assert dead["last_error"] == "PermanentFailure: boom 1"


class Blocking:
    """A handler that signals it started, then waits to be released (or forever)."""

    def __init__(self, *, then_fail: bool = False) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.then_fail = then_fail

    async def __call__(self, message: OutboxMessage) -> None:
        self.started.set()
        await self.release.wait()
        if self.then_fail:
            raise RuntimeError("late failure")


async def claim_and_crash(relay: OutboxRelay, handler: Blocking) -> None:
    """Run until the handler is busy, then kill the run: the row stays leased."""
    task = asyncio.create_task(relay.run_once(T0))
    await asyncio.wait_for(handler.started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_expired_lease_lets_another_relay_take_over(db: Database) -> None:
    message_id = await enqueue(db)
    assert message_id is not None
    handler = Blocking()
    crashed = relay_for(db, handler, relay_id="relay-a", lease=60, handler_timeout=30)
    await claim_and_crash(crashed, handler)
    leased = await row(db, message_id)
    assert (leased["state"], leased["locked_by"]) == (PENDING, "relay-a")
    assert leased["locked_until"] == T0 + timedelta(seconds=60)

    survivor_handler = Recorder()
    survivor = relay_for(db, survivor_handler, relay_id="relay-b", lease=60, handler_timeout=30)
    assert (await survivor.run_once(T0 + timedelta(seconds=59))).claimed == 0
    report = await survivor.run_once(T0 + timedelta(seconds=60))
    assert report.delivered == 1

    done = await row(db, message_id)
    assert done["state"] == DONE
    assert done["attempts"] == 2
    assert done["last_error"] == "lease of relay-a ran out"
    assert [m.attempt for m in survivor_handler.seen] == [2]


async def test_a_lease_that_runs_out_on_the_last_attempt_dead_letters(db: Database) -> None:
    message_id = await enqueue(db)
    assert message_id is not None
    policy = RetryPolicy(max_attempts=1)
    handler = Blocking()
    crashed = relay_for(db, handler, relay_id="relay-a", policy=policy)
    await claim_and_crash(crashed, handler)

    survivor = relay_for(db, Recorder(), relay_id="relay-b", policy=policy)
    report = await survivor.run_once(T0 + timedelta(hours=1))
    assert (report.claimed, report.expired) == (0, 1)
    dead = await row(db, message_id)
    assert dead["state"] == DEAD
    assert "lease of relay-a ran out on the last attempt" in dead["last_error"]


async def test_a_relay_whose_lease_ran_out_cannot_overwrite_the_new_outcome(
    db: Database,
) -> None:
    message_id = await enqueue(db)
    assert message_id is not None
    slow = Blocking(then_fail=True)
    zombie = relay_for(db, slow, relay_id="relay-a", lease=60, handler_timeout=30)
    zombie_run = asyncio.create_task(zombie.run_once(T0))
    await asyncio.wait_for(slow.started.wait(), 10)

    survivor = relay_for(db, Recorder(), relay_id="relay-b", lease=60, handler_timeout=30)
    assert (await survivor.run_once(T0 + timedelta(seconds=61))).delivered == 1
    slow.release.set()
    late = await zombie_run
    assert late.retried == 1  # it tried to record its failure ...
    final = await row(db, message_id)
    assert final["state"] == DONE  # ... and was fenced off by the attempt number
    assert final["attempts"] == 2


async def test_a_handler_that_hangs_is_timed_out_and_retried(db: Database) -> None:
    message_id = await enqueue(db)
    assert message_id is not None
    relay = relay_for(db, Blocking(), lease=1, handler_timeout=0.05)
    assert (await relay.run_once(T0)).retried == 1
    stored = await row(db, message_id)
    assert stored["last_error"] == "TimeoutError: the handler ran past its timeout"


async def test_a_dedupe_key_drops_a_duplicate_enqueue(db: Database) -> None:
    outbox = Outbox()
    first = await enqueue(db, {"n": 1}, dedupe_key="welcome:42")
    assert first is not None
    async with db.transaction() as conn:
        assert await outbox.enqueue(conn, KIND, {"n": 2}, dedupe_key="welcome:42") is None
        # The caller's transaction is still usable after the dropped duplicate.
        other = await outbox.enqueue(conn, KIND, {"n": 3}, dedupe_key="welcome:43")
        plain = await outbox.enqueue(conn, KIND, {"n": 4})
    assert other is not None
    assert plain is not None

    handler = Recorder()
    await relay_for(db, handler).run_once(T0 + timedelta(days=1))
    assert sorted(m.decode(dict[str, int])["n"] for m in handler.seen) == [1, 3, 4]
    # Delivered, the key still holds while the row exists.
    assert await enqueue(db, {"n": 5}, dedupe_key="welcome:42") is None


async def test_a_relay_claims_only_the_kinds_it_handles(db: Database) -> None:
    async with db.transaction() as conn:
        mine = await Outbox().enqueue(conn, "mail.send", {"n": 1}, now=T0)
        theirs = await Outbox().enqueue(conn, "webhook.deliver", {"n": 2}, now=T0)
    handler = Recorder()
    report = await relay_for(db, handler, kind="mail.send").run_once(T0)
    assert report.claimed == 1
    assert [m.id for m in handler.seen] == [mine]
    assert theirs is not None
    assert (await row(db, theirs))["state"] == PENDING


async def test_delivered_payloads_can_be_redacted(db: Database) -> None:
    message_id = await enqueue(db, {"link": "https://example.com/reset?token=secret"})
    assert message_id is not None
    handlers = HandlerRegistry()
    handlers.register(KIND, Recorder(), redact_on_done=True)
    await OutboxRelay(db, handlers).run_once(T0)
    stored = await row(db, message_id)
    assert stored["state"] == DONE
    assert "secret" not in stored["payload"]


async def test_a_batch_is_marked_done_in_one_statement_per_redaction(
    recorded: RecordingDatabase,
) -> None:
    """A transaction per delivered message took a pooled connection per message: under load
    the relay fell behind the requests writing the messages."""
    kept = [await enqueue(recorded, {"n": n}) for n in range(3)]
    async with recorded.transaction() as conn:
        erased = await Outbox().enqueue(conn, "test.secret", {"token": "secret"}, now=T0)
    handlers = HandlerRegistry()
    handlers.register(KIND, Recorder())
    handlers.register("test.secret", Recorder(), redact_on_done=True)
    async with recorded.recording() as sent:
        report = await OutboxRelay(recorded, handlers).run_once(T0)
    assert report.delivered == 4
    marks = [sql for sql, _ in sent if sql.startswith("UPDATE outbox SET state")]
    assert len(marks) == 2
    assert {(await row(recorded, i))["state"] for i in [*kept, erased]} == {DONE}
    assert erased is not None
    assert "secret" not in (await row(recorded, erased))["payload"]


async def test_the_correlation_id_defaults_to_the_bound_request_id(db: Database) -> None:
    with request_context("req-abc"):
        message_id = await enqueue(db)
    assert message_id is not None
    assert (await row(db, message_id))["correlation_id"] == "req-abc"


async def test_pruning_removes_old_delivered_messages_only(db: Database) -> None:
    done_id = await enqueue(db, {"n": 1})
    handler = Recorder()
    await relay_for(db, handler).run_once(T0)
    pending_id = await enqueue(db, {"n": 2}, available_at=T0 + timedelta(days=9))
    async with db.transaction() as conn:
        assert await Outbox.prune(conn, done_before=T0 + timedelta(seconds=1)) == 1
        remaining = (await conn.execute(select(outbox_table.c.id))).scalars().all()
    assert done_id not in remaining
    assert remaining == [pending_id]


class CountingRelay(OutboxRelay):
    """Reports each round, so the test knows when the relay has gone idle."""

    rounds: asyncio.Queue[RelayReport]

    async def run_once(self, now: datetime | None = None) -> RelayReport:
        report = await super().run_once(now)
        self.rounds.put_nowait(report)
        return report


async def test_run_forever_wakes_on_notify_and_stops_cleanly(db: Database) -> None:
    outbox = Outbox()
    handler = Recorder()
    handlers = HandlerRegistry()
    handlers.register(KIND, handler)
    relay = CountingRelay(db, handlers, outbox=outbox)
    relay.rounds = asyncio.Queue()
    stop = asyncio.Event()
    # A poll interval far longer than the test: only the notification can start round two.
    task = asyncio.create_task(relay.run_forever(stop, poll_interval=3600))
    assert (await asyncio.wait_for(relay.rounds.get(), 10)).claimed == 0

    async with db.transaction() as conn:  # any transaction: enqueueing wakes after commit
        await outbox.enqueue(conn, KIND, {"n": 1})
    assert (await asyncio.wait_for(relay.rounds.get(), 10)).delivered == 1
    assert len(handler.seen) == 1

    stop.set()
    await asyncio.wait_for(task, 10)


async def test_invalid_enqueues_are_refused(db: Database) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="kind"):
            await Outbox().enqueue(conn, "", {"n": 1})
        with pytest.raises(ValueError, match="exceeds"):
            await Outbox().enqueue(conn, KIND, {"blob": "x" * 300_000})
        with pytest.raises(ValueError, match="dedupe_key"):
            await Outbox().enqueue(conn, KIND, {"n": 1}, dedupe_key="")
    registry = HandlerRegistry()
    registry.register(KIND, Recorder())
    with pytest.raises(ValueError, match="already registered"):
        registry.register(KIND, Recorder())
    with pytest.raises(ValueError, match="shorter than the lease"):
        OutboxRelay(db, HandlerRegistry(), lease=10, handler_timeout=10)


async def test_rows_out_of_attempts_after_max_attempts_was_lowered_go_dead(
    db: Database,
) -> None:
    message_id = await enqueue(db)
    assert message_id is not None
    async with db.transaction() as conn:
        await conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id == message_id)
            .values(attempts=5, last_error="RuntimeError: earlier")
        )
    relay = relay_for(db, Recorder(), policy=RetryPolicy(max_attempts=3))
    assert (await relay.run_once(T0)).expired == 1
    dead = await row(db, message_id)
    assert (dead["state"], dead["last_error"]) == (DEAD, "RuntimeError: earlier")


async def test_a_relay_is_configured_from_settings(db: Database) -> None:
    settings = OutboxSettings(batch_size=5, lease_seconds=90, handler_timeout=45, max_attempts=4)
    relay = OutboxRelay.from_settings(db, HandlerRegistry(), settings)
    assert (relay.batch_size, relay.lease, relay.handler_timeout) == (5, 90, 45)
    assert relay.policy == RetryPolicy(base=5.0, cap=3600.0, max_attempts=4, jitter=0.25)


# -- transactional handlers: their writes and `done` commit together ----------------------

FOLLOW_UP = "test.follow-up"


def transactional_relay(db: Database, handler: Any) -> OutboxRelay:
    handlers = HandlerRegistry()
    handlers.register_transactional(KIND, handler)
    return OutboxRelay(db, handlers, relay_id="relay-tx")


async def follow_ups(db: Database) -> int:
    async with db.read() as conn:
        rows = await conn.execute(select(outbox_table.c.id).where(outbox_table.c.kind == FOLLOW_UP))
        return len(rows.all())


async def test_a_transactional_handlers_writes_and_done_commit_together(db: Database) -> None:
    message_id = await enqueue(db)
    assert message_id is not None

    async def handler(message: OutboxMessage, conn: Any) -> None:
        await Outbox().enqueue(conn, FOLLOW_UP, {"after": message.id}, now=T0)

    report = await transactional_relay(db, handler).run_once(T0)
    assert report.delivered == 1
    assert (await row(db, message_id))["state"] == DONE
    assert await follow_ups(db) == 1


async def test_a_failing_transactional_handler_leaves_no_writes(db: Database) -> None:
    message_id = await enqueue(db)
    assert message_id is not None

    async def handler(message: OutboxMessage, conn: Any) -> None:
        await Outbox().enqueue(conn, FOLLOW_UP, {"after": message.id}, now=T0)
        raise RuntimeError("after writing")

    assert (await transactional_relay(db, handler).run_once(T0)).retried == 1
    assert (await row(db, message_id))["state"] == PENDING
    assert await follow_ups(db) == 0


async def test_a_transactional_handler_that_lost_its_lease_commits_nothing(db: Database) -> None:
    """Another relay claiming the message is played on the handler's own connection (on
    SQLite a second writer would wait for this transaction's lock): the attempt number moves,
    the fence on `done` finds no row, and everything the handler wrote rolls back."""
    message_id = await enqueue(db)
    assert message_id is not None

    async def handler(message: OutboxMessage, conn: Any) -> None:
        await Outbox().enqueue(conn, FOLLOW_UP, {"after": message.id}, now=T0)
        await conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id == message.id)
            .values(attempts=outbox_table.c.attempts + 1)
        )

    report = await transactional_relay(db, handler).run_once(T0)
    assert report.delivered == 0
    assert await follow_ups(db) == 0
    assert (await row(db, message_id))["state"] == PENDING


async def test_enqueueing_wakes_the_relays_after_commit_only(db: Database) -> None:
    """Whichever way the edge opened its transaction, the wake-up comes once it commits:
    not before (the relay would find nothing), not after a rollback, once per transaction."""
    outbox = Outbox()
    woken: list[str] = []
    outbox.subscribe(lambda: woken.append("woken"))
    async with db.transaction() as conn:
        await outbox.enqueue(conn, KIND, {"n": 1})
        await outbox.enqueue(conn, KIND, {"n": 2})
        assert woken == []
    assert woken == ["woken"]

    async def enqueue_then_fail() -> None:
        async with db.transaction() as conn:
            await outbox.enqueue(conn, KIND, {"n": 3})
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await enqueue_then_fail()
    assert woken == ["woken"]
    async with db.read() as conn:
        assert (await Outbox.counts(conn))[PENDING] == 2


async def test_tally_counts_per_state_and_kind_and_retry_all_dead_requeues_them(
    db: Database,
) -> None:
    async def add(kind: str, state: str, created: datetime) -> None:
        async with db.transaction() as conn:
            message_id = await Outbox().enqueue(conn, kind, {"n": 1}, now=created)
            await conn.execute(
                update(outbox_table).where(outbox_table.c.id == message_id).values(state=state)
            )

    await add("a.one", PENDING, T0 + timedelta(minutes=5))
    await add("a.one", PENDING, T0)
    await add("b.two", PENDING, T0 + timedelta(minutes=1))
    await add("b.two", DEAD, T0 - timedelta(days=1))
    await add("b.two", DONE, T0 - timedelta(days=2))
    async with db.read() as conn:
        by_kind = await Outbox.tally(conn, by_kind=True)
        backlog = await Outbox.tally(conn, states=(PENDING, DEAD))
    assert by_kind.kinds == ["a.one", "b.two"]
    assert [by_kind.count(PENDING, "a.one"), by_kind.count(PENDING, "b.two")] == [2, 1]
    assert [by_kind.count(s) for s in (PENDING, DONE, DEAD)] == [3, 1, 1]
    assert (by_kind.oldest(PENDING), by_kind.oldest(DEAD)) == (T0, T0 - timedelta(days=1))
    assert backlog.kinds == []
    assert [backlog.count(s) for s in (PENDING, DONE, DEAD)] == [3, 0, 1]
    assert backlog.oldest(DONE) is None

    async with db.transaction() as conn:
        assert await Outbox.retry_all_dead(conn, now=T0) == 1
        assert await Outbox.retry_all_dead(conn, now=T0) == 0
        assert await Outbox.counts(conn) == {PENDING: 4, DONE: 1, DEAD: 0}


async def test_a_published_event_reaches_each_subscriber_on_its_own(db: Database) -> None:
    """One message per subscriber: one that fails is retried alone, the other is done."""
    handlers = HandlerRegistry()
    good, bad = Recorder(), Recorder(failures=10)
    handlers.subscribe("things.happened", "good", good)
    handlers.subscribe("things.happened", "bad", bad)
    outbox = Outbox(handlers)
    async with db.transaction() as conn:
        assert await outbox.publish(conn, "things.happened", {"n": 1}) == 2
        assert await outbox.publish(conn, "nobody.listens", {"n": 2}) == 0
    report = await OutboxRelay(db, handlers).run_once(now=T0)
    assert (report.delivered, report.retried) == (1, 1)
    assert [m.kind for m in good.seen] == ["things.happened>good"]
    assert msgspec.json.decode(good.seen[0].payload) == {"n": 1}
    report = await OutboxRelay(db, handlers).run_once(now=T0)
    assert report.claimed == 0  # the failed one waits for its backoff; the good one is done
