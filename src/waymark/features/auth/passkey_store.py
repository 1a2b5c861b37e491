"""The SQL of passkeys and their ceremonies; nobody outside auth imports it."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import msgspec
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.tables import passkey_ceremonies, passkeys


class CeremonyRow(msgspec.Struct, kw_only=True):
    purpose: str
    """`register` or `sign-in`."""
    user_id: uuid.UUID | None
    challenge: str
    """base64url, as the options carried it."""
    expires_at: datetime

    def challenge_bytes(self) -> bytes:
        return base64.urlsafe_b64decode(self.challenge + "=" * (-len(self.challenge) % 4))


def b64(raw: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON carries bytes."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class PasskeyRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: str
    aaguid: str
    backed_up: bool
    name: str
    created_at: datetime
    last_used_at: datetime | None


class PasskeyRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_ceremony(self, id_hash: str, ceremony: CeremonyRow, *, now: datetime) -> None:
        t = passkey_ceremonies
        await self.conn.execute(delete(t).where(t.c.expires_at < now))
        await self.conn.execute(
            insert(t).values(id_hash=id_hash, **msgspec.structs.asdict(ceremony))
        )

    async def take_ceremony(self, id_hash: str) -> CeremonyRow | None:
        """The ceremony, deleted as it is read: its challenge answers once."""
        t = passkey_ceremonies
        row = (
            (
                await self.conn.execute(
                    delete(t)
                    .where(t.c.id_hash == id_hash)
                    .returning(t.c.purpose, t.c.user_id, t.c.challenge, t.c.expires_at)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else CeremonyRow(**row)

    async def by_credential(self, credential_id: str) -> PasskeyRow | None:
        row = (
            (
                await self.conn.execute(
                    select(passkeys).where(passkeys.c.credential_id == credential_id)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else PasskeyRow(**row)

    async def of_user(self, user_id: uuid.UUID) -> list[PasskeyRow]:
        rows = (
            await self.conn.execute(
                select(passkeys)
                .where(passkeys.c.user_id == user_id)
                .order_by(passkeys.c.created_at, passkeys.c.id)
            )
        ).mappings()
        return [PasskeyRow(**row) for row in rows]

    async def count_of_user(self, user_id: uuid.UUID) -> int:
        found = await self.conn.scalar(select(func.count()).where(passkeys.c.user_id == user_id))
        return int(found or 0)

    async def add(self, row: PasskeyRow) -> None:
        await self.conn.execute(insert(passkeys).values(**msgspec.structs.asdict(row)))

    async def used(
        self, passkey_id: uuid.UUID, *, was: int, sign_count: int, now: datetime
    ) -> bool:
        """Move the counter on, only from the value it was checked against: of two
        assertions racing with one counter, one wins."""
        done = await self.conn.execute(
            update(passkeys)
            .where(passkeys.c.id == passkey_id, passkeys.c.sign_count == was)
            .values(sign_count=sign_count, last_used_at=now)
        )
        return done.rowcount == 1

    async def rename(self, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> bool:
        done = await self.conn.execute(
            update(passkeys)
            .where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
            .values(name=name)
        )
        return done.rowcount == 1

    async def remove(self, user_id: uuid.UUID, passkey_id: uuid.UUID) -> bool:
        gone = await self.conn.execute(
            delete(passkeys).where(passkeys.c.id == passkey_id, passkeys.c.user_id == user_id)
        )
        return gone.rowcount == 1
