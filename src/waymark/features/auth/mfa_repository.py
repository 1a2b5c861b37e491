"""The SQL of second factors: TOTP secrets (sealed), recovery codes (hashed), sign-in
challenges (hashed, counted), step-ups; nobody outside auth imports it."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.tables import (
    mfa_challenges,
    mfa_email,
    mfa_recovery_codes,
    mfa_step_ups,
    mfa_totp,
)


class TotpRow(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    secret: bytes
    created_at: datetime
    confirmed_at: datetime | None
    last_step: int | None


class ChallengeRow(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    mode: str
    via: str
    tries: int
    expires_at: datetime


class MfaRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- TOTP --------------------------------------------------------------------------------

    async def totp(self, user_id: uuid.UUID) -> TotpRow | None:
        row = (
            (await self.conn.execute(select(mfa_totp).where(mfa_totp.c.user_id == user_id)))
            .mappings()
            .first()
        )
        return None if row is None else TotpRow(**row)

    async def begin_totp(self, user_id: uuid.UUID, secret: bytes, *, now: datetime) -> None:
        """A new unconfirmed secret, replacing an unconfirmed one; never a confirmed one."""
        await self.conn.execute(
            delete(mfa_totp).where(mfa_totp.c.user_id == user_id, mfa_totp.c.confirmed_at.is_(None))
        )
        await self.conn.execute(
            insert(mfa_totp).values(user_id=user_id, secret=secret, created_at=now)
        )

    async def accept_step(
        self, user_id: uuid.UUID, step: int, *, confirm_at: datetime | None
    ) -> bool:
        """Record `step` as the last accepted, only if it is later than the last one (an
        atomic compare-and-set: of two requests with the same code, one wins)."""
        values: dict[str, object] = {"last_step": step}
        if confirm_at is not None:
            values["confirmed_at"] = confirm_at
        done = await self.conn.execute(
            update(mfa_totp)
            .where(
                mfa_totp.c.user_id == user_id,
                or_(mfa_totp.c.last_step.is_(None), mfa_totp.c.last_step < step),
            )
            .values(**values)
        )
        return done.rowcount == 1

    async def remove_factors(self, user_id: uuid.UUID) -> bool:
        """MFA off: the secret and recovery codes go; True if a confirmed secret was there."""
        gone = await self.conn.execute(
            delete(mfa_totp).where(
                mfa_totp.c.user_id == user_id, mfa_totp.c.confirmed_at.is_not(None)
            )
        )
        await self.conn.execute(
            delete(mfa_recovery_codes).where(mfa_recovery_codes.c.user_id == user_id)
        )
        await self.conn.execute(delete(mfa_step_ups).where(mfa_step_ups.c.user_id == user_id))
        await self.conn.execute(delete(mfa_email).where(mfa_email.c.user_id == user_id))
        return gone.rowcount == 1

    # -- recovery codes ----------------------------------------------------------------------

    async def replace_recovery_codes(
        self, user_id: uuid.UUID, hashes: list[str], *, now: datetime
    ) -> None:
        await self.conn.execute(
            delete(mfa_recovery_codes).where(mfa_recovery_codes.c.user_id == user_id)
        )
        if hashes:  # none where recovery codes are turned off
            await self.conn.execute(
                insert(mfa_recovery_codes),
                [{"user_id": user_id, "code_hash": h, "created_at": now} for h in hashes],
            )

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str) -> bool:
        gone = await self.conn.execute(
            delete(mfa_recovery_codes).where(
                mfa_recovery_codes.c.user_id == user_id, mfa_recovery_codes.c.code_hash == code_hash
            )
        )
        return gone.rowcount == 1

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        rows = await self.conn.execute(
            select(mfa_recovery_codes.c.code_hash).where(mfa_recovery_codes.c.user_id == user_id)
        )
        return len(rows.all())

    # -- mailed codes ------------------------------------------------------------------------

    async def email_on(self, user_id: uuid.UUID) -> bool:
        found = await self.conn.scalar(
            select(mfa_email.c.user_id).where(mfa_email.c.user_id == user_id)
        )
        return found is not None

    async def set_email(self, user_id: uuid.UUID, *, on: bool, now: datetime) -> None:
        await self.conn.execute(delete(mfa_email).where(mfa_email.c.user_id == user_id))
        if on:
            await self.conn.execute(insert(mfa_email).values(user_id=user_id, enabled_at=now))

    async def put_email_code(
        self, id_hash: str, code_hash: str, *, expires_at: datetime, max_sends: int
    ) -> bool:
        """A new mailed code for the challenge (the previous one void), at most `max_sends`
        per challenge; False when that many were sent."""
        done = await self.conn.execute(
            update(mfa_challenges)
            .where(
                mfa_challenges.c.id_hash == id_hash,
                mfa_challenges.c.email_codes_sent < max_sends,
            )
            .values(
                email_code_hash=code_hash,
                email_code_expires_at=expires_at,
                email_codes_sent=mfa_challenges.c.email_codes_sent + 1,
            )
        )
        return done.rowcount == 1

    async def email_code(self, id_hash: str, *, now: datetime) -> str | None:
        """The hash of the live code mailed for this challenge, if any."""
        row = (
            await self.conn.execute(
                select(
                    mfa_challenges.c.email_code_hash, mfa_challenges.c.email_code_expires_at
                ).where(mfa_challenges.c.id_hash == id_hash)
            )
        ).first()
        if row is None or row.email_code_hash is None or row.email_code_expires_at <= now:
            return None
        return str(row.email_code_hash)

    async def clear_email_code(self, id_hash: str) -> None:
        await self.conn.execute(
            update(mfa_challenges)
            .where(mfa_challenges.c.id_hash == id_hash)
            .values(email_code_hash=None, email_code_expires_at=None)
        )

    # -- challenges --------------------------------------------------------------------------

    async def add_challenge(self, id_hash: str, row: ChallengeRow, *, now: datetime) -> None:
        await self.conn.execute(delete(mfa_challenges).where(mfa_challenges.c.expires_at < now))
        await self.conn.execute(
            insert(mfa_challenges).values(id_hash=id_hash, **msgspec.structs.asdict(row))
        )

    async def challenge(self, id_hash: str, *, now: datetime) -> ChallengeRow | None:
        row = (
            (
                await self.conn.execute(
                    select(mfa_challenges).where(
                        mfa_challenges.c.id_hash == id_hash, mfa_challenges.c.expires_at > now
                    )
                )
            )
            .mappings()
            .first()
        )
        return (
            None
            if row is None
            else ChallengeRow(**{k: row[k] for k in ChallengeRow.__struct_fields__})
        )

    async def count_try(self, id_hash: str, *, max_tries: int) -> bool:
        """One more wrong answer; the challenge is deleted at `max_tries`. True if it lives on."""
        await self.conn.execute(
            update(mfa_challenges)
            .where(mfa_challenges.c.id_hash == id_hash)
            .values(tries=mfa_challenges.c.tries + 1)
        )
        ended = await self.conn.execute(
            delete(mfa_challenges).where(
                mfa_challenges.c.id_hash == id_hash, mfa_challenges.c.tries >= max_tries
            )
        )
        return ended.rowcount == 0

    async def take_challenge(self, id_hash: str) -> bool:
        """Delete the challenge: it is answered once. False if someone else took it."""
        gone = await self.conn.execute(
            delete(mfa_challenges).where(mfa_challenges.c.id_hash == id_hash)
        )
        return gone.rowcount == 1

    # -- step-ups ----------------------------------------------------------------------------

    async def record_step_up(self, session_key: str, user_id: uuid.UUID, *, now: datetime) -> None:
        await self.conn.execute(
            delete(mfa_step_ups).where(mfa_step_ups.c.session_key == session_key)
        )
        await self.conn.execute(
            insert(mfa_step_ups).values(session_key=session_key, user_id=user_id, verified_at=now)
        )

    async def stepped_up_since(self, session_key: str, user_id: uuid.UUID, since: datetime) -> bool:
        found = await self.conn.scalar(
            select(mfa_step_ups.c.verified_at).where(
                and_(
                    mfa_step_ups.c.session_key == session_key,
                    mfa_step_ups.c.user_id == user_id,
                    mfa_step_ups.c.verified_at >= since,
                )
            )
        )
        return found is not None
