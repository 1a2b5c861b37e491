"""The SQL of linked identities and sign-in attempts; nobody outside auth imports it."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.tables import (
    link_confirmations,
    linked_identities,
    reauthentications,
    sign_in_attempts,
)


class AttemptRow(msgspec.Struct, kw_only=True):
    provider: str
    state: str
    nonce: str
    verifier: str
    link_to: uuid.UUID | None
    """The signed-in account linking an identity, or re-authenticating (`reauth_session`)."""
    next_path: str
    expires_at: datetime
    reauth_session: str | None = None
    """Re-authenticating this session or token family of `link_to` (its store key)."""


class IdentityRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    issuer: str
    subject: str
    email: str
    created_at: datetime
    last_used_at: datetime | None


class LinkConfirmationRow(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    provider: str
    issuer: str
    subject: str
    email: str
    expires_at: datetime


class IdentityRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_attempt(self, id_hash: str, attempt: AttemptRow, *, now: datetime) -> None:
        await self.conn.execute(delete(sign_in_attempts).where(sign_in_attempts.c.expires_at < now))
        await self.conn.execute(
            insert(sign_in_attempts).values(id_hash=id_hash, **msgspec.structs.asdict(attempt))
        )

    async def take_attempt(self, id_hash: str) -> AttemptRow | None:
        """The attempt, deleted as it is read: it can be finished once."""
        row = (
            (
                await self.conn.execute(
                    select(sign_in_attempts).where(sign_in_attempts.c.id_hash == id_hash)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        gone = await self.conn.execute(
            delete(sign_in_attempts).where(sign_in_attempts.c.id_hash == id_hash)
        )
        if gone.rowcount != 1:
            return None  # finished meanwhile by a concurrent callback
        return AttemptRow(**{k: row[k] for k in AttemptRow.__struct_fields__})

    async def by_subject(self, issuer: str, subject: str) -> IdentityRow | None:
        row = (
            (
                await self.conn.execute(
                    select(linked_identities).where(
                        linked_identities.c.issuer == issuer, linked_identities.c.subject == subject
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else IdentityRow(**row)

    async def of_user(self, user_id: uuid.UUID) -> list[IdentityRow]:
        rows = (
            await self.conn.execute(
                select(linked_identities)
                .where(linked_identities.c.user_id == user_id)
                .order_by(linked_identities.c.created_at, linked_identities.c.id)
            )
        ).mappings()
        return [IdentityRow(**row) for row in rows]

    async def count_of_user(self, user_id: uuid.UUID) -> int:
        found = await self.conn.scalar(
            select(func.count()).where(linked_identities.c.user_id == user_id)
        )
        return int(found or 0)

    async def link(self, row: IdentityRow) -> None:
        await self.conn.execute(insert(linked_identities).values(**msgspec.structs.asdict(row)))

    async def used(self, identity_id: uuid.UUID, *, email: str, now: datetime) -> None:
        await self.conn.execute(
            update(linked_identities)
            .where(linked_identities.c.id == identity_id)
            .values(last_used_at=now, email=email)
        )

    async def unlink(self, user_id: uuid.UUID, identity_id: uuid.UUID) -> bool:
        gone = await self.conn.execute(
            delete(linked_identities).where(
                linked_identities.c.id == identity_id, linked_identities.c.user_id == user_id
            )
        )
        return gone.rowcount == 1

    async def add_link_confirmation(
        self, id_hash: str, row: LinkConfirmationRow, *, now: datetime
    ) -> None:
        t = link_confirmations
        await self.conn.execute(delete(t).where(t.c.expires_at < now))
        await self.conn.execute(insert(t).values(id_hash=id_hash, **msgspec.structs.asdict(row)))

    async def take_link_confirmation(self, id_hash: str) -> LinkConfirmationRow | None:
        """The confirmation, deleted as it is read: it links once."""
        t = link_confirmations
        row = (
            (
                await self.conn.execute(
                    delete(t)
                    .where(t.c.id_hash == id_hash)
                    .returning(*(t.c[name] for name in LinkConfirmationRow.__struct_fields__))
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else LinkConfirmationRow(**row)

    async def record_reauthentication(
        self, session_key: str, user_id: uuid.UUID, *, provider: str, now: datetime
    ) -> None:
        t = reauthentications
        await self.conn.execute(delete(t).where(t.c.session_key == session_key))
        await self.conn.execute(
            insert(t).values(
                session_key=session_key, user_id=user_id, provider=provider, reauthenticated_at=now
            )
        )

    async def reauthenticated_since(
        self, session_key: str, user_id: uuid.UUID, since: datetime
    ) -> bool:
        t = reauthentications
        found = await self.conn.scalar(
            select(t.c.reauthenticated_at).where(
                t.c.session_key == session_key,
                t.c.user_id == user_id,
                t.c.reauthenticated_at >= since,
            )
        )
        return found is not None
