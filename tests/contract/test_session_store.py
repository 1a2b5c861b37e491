"""SessionStore contract: sliding idle expiry, absolute expiry, per-user listing and logout."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from sqlalchemy import event

from waymark.infra.redis import RedisSessionStore
from waymark.infra.sql.database import Database
from waymark.infra.sql.sessions import SqlSessionStore
from waymark.kernel.ports import TOUCH_GRANULARITY, SessionRecord, SessionStore

T0 = 1_795_000_000.25
IDLE = 1800.0
ABSOLUTE = 12 * 3600.0


def session(
    id_hash: str,
    *,
    user_id: str = "user-1",
    at: float = T0,
    idle: float = IDLE,
    absolute: float = ABSOLUTE,
) -> SessionRecord:
    return SessionRecord(
        id_hash=id_hash,
        user_id=user_id,
        created_at=at,
        last_seen_at=at,
        idle_timeout=idle,
        absolute_expires_at=at + absolute,
        csrf_token=f"csrf-{id_hash}",
        ip="2001:db8::7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0 — ünïcode",
        auth_level="mfa",
    )


class SessionStoreContract:
    async def test_touch_returns_the_session_with_idle_expiry_slid(
        self, sessions: SessionStore
    ) -> None:
        record = session("s1")
        await sessions.create(record)
        touched = await sessions.touch("s1", now=T0 + 60.5)
        assert touched is not None
        assert touched.last_seen_at == T0 + 60.5
        record.last_seen_at = T0 + 60.5
        assert touched == record

    async def test_activity_keeps_a_session_alive_past_the_idle_timeout(
        self, sessions: SessionStore
    ) -> None:
        await sessions.create(session("s1", idle=100))
        for step in range(1, 8):
            assert await sessions.touch("s1", now=T0 + step * 99) is not None
        assert await sessions.touch("s1", now=T0 + 7 * 99 + 100) is not None

    async def test_a_session_idle_for_longer_than_the_timeout_is_gone(
        self, sessions: SessionStore
    ) -> None:
        await sessions.create(session("s1", idle=100))
        assert await sessions.touch("s1", now=T0 + 50) is not None
        assert await sessions.touch("s1", now=T0 + 150.001) is None
        # Deleted, not just refused: it does not come back at an earlier time either.
        assert await sessions.touch("s1", now=T0 + 60) is None
        assert await sessions.list_for_user("user-1", now=T0 + 60) == []

    async def test_the_absolute_timeout_ends_even_an_active_session(
        self, sessions: SessionStore
    ) -> None:
        await sessions.create(session("s1", idle=100, absolute=250))
        for now in (T0 + 90, T0 + 180, T0 + 250):
            touched = await sessions.touch("s1", now=now)
            assert touched is not None
            assert touched.absolute_expires_at == T0 + 250
        assert await sessions.touch("s1", now=T0 + 250.5) is None
        assert await sessions.delete("s1") is False

    async def test_unknown_sessions_are_none(self, sessions: SessionStore) -> None:
        assert await sessions.touch("nope", now=T0) is None
        assert await sessions.delete("nope") is False

    async def test_delete_ends_one_session(self, sessions: SessionStore) -> None:
        await sessions.create(session("s1"))
        await sessions.create(session("s2"))
        assert await sessions.delete("s1") is True
        assert await sessions.delete("s1") is False
        assert await sessions.touch("s1", now=T0 + 1) is None
        assert await sessions.touch("s2", now=T0 + 1) is not None
        assert [s.id_hash for s in await sessions.list_for_user("user-1", now=T0 + 1)] == ["s2"]

    async def test_list_shows_only_live_sessions_newest_first(self, sessions: SessionStore) -> None:
        await sessions.create(session("old", at=T0))
        await sessions.create(session("idle", at=T0 + 1, idle=10))
        await sessions.create(session("newest", at=T0 + 3))
        await sessions.create(session("middle", at=T0 + 2))
        await sessions.create(session("someone-else", user_id="user-2", at=T0 + 4))

        listed = await sessions.list_for_user("user-1", now=T0 + 20)
        assert [s.id_hash for s in listed] == ["newest", "middle", "old"]
        assert listed[0] == session("newest", at=T0 + 3)
        assert [s.id_hash for s in await sessions.list_for_user("user-2", now=T0 + 20)] == [
            "someone-else"
        ]
        assert await sessions.list_for_user("user-3", now=T0 + 20) == []
        assert await sessions.touch("idle", now=T0 + 5) is None

    async def test_list_reflects_touches(self, sessions: SessionStore) -> None:
        await sessions.create(session("s1", idle=100))
        await sessions.touch("s1", now=T0 + 90)
        (listed,) = await sessions.list_for_user("user-1", now=T0 + 150)
        assert listed.last_seen_at == T0 + 90

    async def test_delete_for_user_keeps_the_current_session(self, sessions: SessionStore) -> None:
        for name in ("a", "b", "c"):
            await sessions.create(session(name))
        await sessions.create(session("other", user_id="user-2"))

        assert await sessions.delete_for_user("user-1", keep="b") == 2
        assert [s.id_hash for s in await sessions.list_for_user("user-1", now=T0 + 1)] == ["b"]
        assert await sessions.touch("a", now=T0 + 1) is None
        assert await sessions.touch("b", now=T0 + 1) is not None
        assert await sessions.touch("other", now=T0 + 1) is not None

        assert await sessions.delete_for_user("user-1") == 1
        assert await sessions.touch("b", now=T0 + 2) is None
        assert await sessions.delete_for_user("user-1") == 0
        assert await sessions.touch("other", now=T0 + 2) is not None

    async def test_the_default_fields_round_trip(self, sessions: SessionStore) -> None:
        plain = SessionRecord(
            id_hash="plain",
            user_id="user-1",
            created_at=T0,
            last_seen_at=T0,
            idle_timeout=IDLE,
            absolute_expires_at=T0 + ABSOLUTE,
            csrf_token="c",
        )
        await sessions.create(plain)
        assert await sessions.list_for_user("user-1", now=T0) == [plain]

    async def test_a_touch_may_lag_by_at_most_the_granularity(self, sessions: SessionStore) -> None:
        await sessions.create(session("s1", idle=100))
        for now in (T0 + 1, T0 + 2, T0 + 3):
            touched = await sessions.touch("s1", now=now)
            assert touched is not None
            assert T0 <= touched.last_seen_at <= now
        # Wherever the store recorded the activity, the session outlives the idle timeout
        # counted from the last request minus the granularity...
        alive = await sessions.touch("s1", now=T0 + 3 + 100 - TOUCH_GRANULARITY)
        assert alive is not None
        # ...and a touch past the granularity is recorded exactly.
        assert alive.last_seen_at == T0 + 3 + 100 - TOUCH_GRANULARITY
        (listed,) = await sessions.list_for_user("user-1", now=T0 + 100)
        assert listed.last_seen_at == T0 + 3 + 100 - TOUCH_GRANULARITY

    async def test_renew_moves_a_live_session_to_a_new_id(self, sessions: SessionStore) -> None:
        record = session("old", idle=100)
        await sessions.create(record)
        renewed = await sessions.renew(
            "old", new_id_hash="new", csrf_token="csrf-renewed", now=T0 + 60.5
        )
        assert renewed is not None
        assert renewed == SessionRecord(
            id_hash="new",
            user_id=record.user_id,
            created_at=record.created_at,
            last_seen_at=T0 + 60.5,
            idle_timeout=record.idle_timeout,
            absolute_expires_at=record.absolute_expires_at,
            csrf_token="csrf-renewed",
            ip=record.ip,
            user_agent=record.user_agent,
            auth_level=record.auth_level,
        )
        assert await sessions.touch("old", now=T0 + 61) is None
        # The idle expiry slid with the renewal: alive 100 s after it, not after creation.
        assert await sessions.touch("new", now=T0 + 160.5) == SessionRecord(
            **{**msgspec.structs.asdict(renewed), "last_seen_at": T0 + 160.5}
        )
        listed = await sessions.list_for_user("user-1", now=T0 + 161)
        assert [s.id_hash for s in listed] == ["new"]
        assert listed[0].csrf_token == "csrf-renewed"

    async def test_a_renewed_session_ends_with_its_user(self, sessions: SessionStore) -> None:
        await sessions.create(session("old"))
        await sessions.create(session("other"))
        assert await sessions.renew("old", new_id_hash="new", csrf_token="c", now=T0 + 10)
        assert await sessions.delete_for_user("user-1", keep="new") == 1
        assert [s.id_hash for s in await sessions.list_for_user("user-1", now=T0 + 11)] == ["new"]
        assert await sessions.delete_for_user("user-1") == 1
        assert await sessions.touch("new", now=T0 + 12) is None
        assert await sessions.list_for_user("user-1", now=T0 + 12) == []

    async def test_renew_sets_the_auth_level_only_when_given(self, sessions: SessionStore) -> None:
        await sessions.create(msgspec.structs.replace(session("s1"), auth_level="password"))
        kept = await sessions.renew("s1", new_id_hash="s2", csrf_token="c2", now=T0 + 10)
        assert kept is not None
        assert kept.auth_level == "password"
        raised = await sessions.renew(
            "s2", new_id_hash="s3", csrf_token="c3", now=T0 + 20, auth_level="mfa"
        )
        assert raised is not None
        assert raised.auth_level == "mfa"
        again = await sessions.renew("s3", new_id_hash="s4", csrf_token="c4", now=T0 + 30)
        assert again is not None
        assert again.auth_level == "mfa"
        touched = await sessions.touch("s4", now=T0 + 40)
        assert touched is not None
        assert touched.auth_level == "mfa"

    async def test_renew_of_a_dead_session_is_none_and_creates_nothing(
        self, sessions: SessionStore
    ) -> None:
        assert await sessions.renew("nope", new_id_hash="new", csrf_token="c", now=T0) is None
        assert await sessions.touch("new", now=T0) is None

        await sessions.create(session("idle", idle=100))
        assert (
            await sessions.renew("idle", new_id_hash="new", csrf_token="c", now=T0 + 100.5) is None
        )
        assert await sessions.touch("new", now=T0 + 100.5) is None
        assert await sessions.list_for_user("user-1", now=T0 + 100.5) == []

        await sessions.create(session("done", idle=100, absolute=150))
        assert await sessions.touch("done", now=T0 + 90) is not None
        assert (
            await sessions.renew("done", new_id_hash="new", csrf_token="c", now=T0 + 150.5) is None
        )
        assert await sessions.touch("new", now=T0 + 150.5) is None

    async def test_renew_keeps_the_absolute_expiry(self, sessions: SessionStore) -> None:
        await sessions.create(session("s1", idle=100, absolute=150))
        renewed = await sessions.renew("s1", new_id_hash="s2", csrf_token="c", now=T0 + 90)
        assert renewed is not None
        assert renewed.absolute_expires_at == T0 + 150
        assert await sessions.touch("s2", now=T0 + 150) is not None
        assert await sessions.touch("s2", now=T0 + 150.5) is None

    async def test_concurrent_renewals_of_one_session_move_it_once(
        self, sessions: SessionStore
    ) -> None:
        await sessions.create(session("old"))
        results = await asyncio.gather(
            *(
                sessions.renew("old", new_id_hash=f"new-{i}", csrf_token=f"c{i}", now=T0 + 10)
                for i in range(4)
            )
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        (winner,) = winners
        assert winner.id_hash in {f"new-{i}" for i in range(4)}
        for i in range(4):
            live = await sessions.touch(f"new-{i}", now=T0 + 11)
            assert (live is not None) == (f"new-{i}" == winner.id_hash)
        assert await sessions.touch("old", now=T0 + 11) is None
        assert [s.id_hash for s in await sessions.list_for_user("user-1", now=T0 + 11)] == [
            winner.id_hash
        ]


class TestSqlSessionStore(SessionStoreContract):
    @pytest.fixture
    def sessions(self, db: Database) -> SqlSessionStore:
        return SqlSessionStore(db)

    async def test_purge_deletes_only_expired_sessions(self, sessions: SqlSessionStore) -> None:
        await sessions.create(session("short", idle=10))
        await sessions.create(session("long"))
        assert await sessions.purge_expired(T0 + 11) == 1
        assert await sessions.touch("long", now=T0 + 11) is not None

    async def test_touches_within_the_granularity_do_not_write(
        self, sessions: SqlSessionStore, db: Database
    ) -> None:
        await sessions.create(session("s1"))
        writes: list[str] = []

        def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not statement.lstrip().upper().startswith(("SELECT", "BEGIN", "COMMIT")):
                writes.append(statement)

        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            for step in range(10):
                assert await sessions.touch("s1", now=T0 + step * 0.4) is not None
            assert writes == []
            assert await sessions.touch("s1", now=T0 + TOUCH_GRANULARITY) is not None
            assert len(writes) == 1
            assert writes[0].lstrip().upper().startswith("UPDATE")
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)


class TestRedisSessionStore(SessionStoreContract):
    @pytest.fixture
    def sessions(self, redis_client: Redis, redis_prefix: str) -> RedisSessionStore:
        return RedisSessionStore(redis_client, prefix=redis_prefix)

    async def test_a_touch_writes_only_past_the_granularity(
        self, sessions: RedisSessionStore, redis_client: Redis, redis_prefix: str
    ) -> None:
        await sessions.create(session("s1"))
        key = f"{redis_prefix}sess:s1"
        for step in range(10):
            assert await sessions.touch("s1", now=T0 + step * 0.4) is not None
        assert float(await redis_client.hget(key, "last_seen_at")) == T0
        assert await sessions.touch("s1", now=T0 + TOUCH_GRANULARITY) is not None
        assert float(await redis_client.hget(key, "last_seen_at")) == T0 + TOUCH_GRANULARITY
