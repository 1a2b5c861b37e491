"""The embedded session store: browser sessions in an SQL table.

Each port call is one short transaction of its own (a touch reads first, and writes only when
the session ended or its recorded activity is `TOUCH_GRANULARITY` old). On SQLite
`Database.transaction()` begins IMMEDIATE, so writers queue on the database lock. Expired
rows are deleted when a read meets them and by `purge_expired(now)`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Double, Row, case, delete, literal, select, update

from waymark.infra.ephemeral import expires_at
from waymark.infra.sql.database import Database
from waymark.infra.sql.ephemeral_tables import ephemeral_sessions
from waymark.kernel.ports import TOUCH_GRANULARITY, AuthLevel, SessionRecord


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def _session_record(row: Row[Any]) -> SessionRecord:
    return SessionRecord(
        id_hash=row.id_hash,
        user_id=row.user_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        idle_timeout=row.idle_timeout,
        absolute_expires_at=row.absolute_expires_at,
        csrf_token=row.csrf_token,
        ip=row.ip,
        user_agent=row.user_agent,
        auth_level=row.auth_level,
    )


class SqlSessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, record: SessionRecord) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                ephemeral_sessions.insert().values(
                    id_hash=record.id_hash,
                    user_id=record.user_id,
                    created_at=record.created_at,
                    last_seen_at=record.last_seen_at,
                    idle_timeout=record.idle_timeout,
                    absolute_expires_at=record.absolute_expires_at,
                    expires_at=expires_at(
                        last_seen=record.last_seen_at,
                        idle_timeout=record.idle_timeout,
                        absolute_expires_at=record.absolute_expires_at,
                    ),
                    csrf_token=record.csrf_token,
                    ip=record.ip,
                    user_agent=record.user_agent,
                    auth_level=record.auth_level,
                )
            )

    async def touch(self, id_hash: str, *, now: float) -> SessionRecord | None:
        """One read; a write only when the session ended or its recorded activity is
        `TOUCH_GRANULARITY` old (every request of a browser goes through here)."""
        s = ephemeral_sessions
        async with self._db.read() as conn:
            row = (await conn.execute(select(s).where(s.c.id_hash == id_hash))).first()
        if row is None:
            return None
        if now > row.expires_at:
            async with self._db.transaction() as conn:
                # Unless a touch from another process slid it meanwhile.
                await conn.execute(delete(s).where(s.c.id_hash == id_hash, s.c.expires_at < now))
            return None
        record = _session_record(row)
        if now - record.last_seen_at < TOUCH_GRANULARITY:
            return record
        record.last_seen_at = now
        async with self._db.transaction() as conn:
            slid = await conn.execute(
                update(s)
                # A clock a little behind another process's never shortens a session.
                .where(s.c.id_hash == id_hash, s.c.last_seen_at < now)
                .values(
                    last_seen_at=now,
                    expires_at=expires_at(
                        last_seen=now,
                        idle_timeout=record.idle_timeout,
                        absolute_expires_at=record.absolute_expires_at,
                    ),
                )
            )
            if _rowcount(slid) == 0:  # ended, or touched later by another process, meanwhile
                row = (await conn.execute(select(s).where(s.c.id_hash == id_hash))).first()
                return None if row is None else _session_record(row)
        return record

    async def renew(
        self,
        id_hash: str,
        *,
        new_id_hash: str,
        csrf_token: str,
        now: float,
        auth_level: AuthLevel | None = None,
    ) -> SessionRecord | None:
        """One conditional UPDATE of the primary key. Concurrent renewals of one id queue on
        the row (SQLite: the database lock); the later ones find it moved and get None."""
        s = ephemeral_sessions
        # `expires_at(...)` in SQL, on the stored times: the row is read and written at once.
        last_seen = case((s.c.last_seen_at > now, s.c.last_seen_at), else_=literal(now, Double))
        idle_end = last_seen + s.c.idle_timeout
        values: dict[str, Any] = {
            "id_hash": new_id_hash,
            "csrf_token": csrf_token,
            "last_seen_at": last_seen,
            "expires_at": case(
                (idle_end < s.c.absolute_expires_at, idle_end), else_=s.c.absolute_expires_at
            ),
        }
        if auth_level is not None:
            values["auth_level"] = auth_level
        async with self._db.transaction() as conn:
            row = (
                await conn.execute(
                    update(s)
                    .where(s.c.id_hash == id_hash, s.c.expires_at >= now)
                    .values(values)
                    .returning(*s.c)
                )
            ).first()
        return None if row is None else _session_record(row)

    async def delete(self, id_hash: str) -> bool:
        s = ephemeral_sessions
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(delete(s).where(s.c.id_hash == id_hash))) > 0

    async def list_for_user(self, user_id: str, *, now: float) -> list[SessionRecord]:
        s = ephemeral_sessions
        async with self._db.transaction() as conn:
            await conn.execute(delete(s).where(s.c.user_id == user_id, s.c.expires_at < now))
            rows = await conn.execute(
                select(s)
                .where(s.c.user_id == user_id, s.c.expires_at >= now)
                .order_by(s.c.created_at.desc(), s.c.id_hash.desc())
            )
            return [_session_record(row) for row in rows]

    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        s = ephemeral_sessions
        stmt = delete(s).where(s.c.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(s.c.id_hash != keep)
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(stmt))

    async def purge_expired(self, now: float) -> int:
        s = ephemeral_sessions
        async with self._db.transaction() as conn:
            return _rowcount(await conn.execute(delete(s).where(s.c.expires_at < now)))
