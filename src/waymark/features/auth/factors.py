"""Second factors, each behind one small interface (`SecondFactor`: a kind name, whether the
account has it, verify an answer), so the challenge, step-up and turning MFA off take any
of them: TOTP and recovery codes here, mailed codes and passkeys plugged in the same way.

A factor verifies inside the caller's transaction (`conn`), so what it consumes (a time
step, a recovery code) is consumed together with the challenge it answers, or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.mfa_repository import MfaRepository
from waymark.infra.security import otp
from waymark.infra.security.secret_box import SecretBox

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class SecondFactor(Protocol):
    kind: str
    """How requests name it: `totp`, `recovery`, `email`, `webauthn`."""
    amr: str
    """The RFC 8176 method value it adds to the token's `amr` (`otp`, `hwk`, ...)."""
    turns_mfa_on: bool
    """Whether having it turns MFA on (a TOTP app, a passkey) or only backs one up
    (recovery codes, which alone never require a second factor)."""

    async def enrolled(self, conn: AsyncConnection, user_id: uuid.UUID) -> bool: ...

    async def verify(
        self, conn: AsyncConnection, user_id: uuid.UUID, answer: str, *, now: datetime
    ) -> bool:
        """Whether `answer` proves the factor; what it uses up is used up in `conn`."""
        ...


def secret_aad(user_id: uuid.UUID) -> bytes:
    """What a sealed TOTP secret is bound to: its table, column and row."""
    return f"mfa_totp.secret:{user_id}".encode()


class TotpFactor:
    kind = "totp"
    amr = "otp"
    turns_mfa_on = True

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    async def enrolled(self, conn: AsyncConnection, user_id: uuid.UUID) -> bool:
        row = await MfaRepository(conn).totp(user_id)
        return row is not None and row.confirmed_at is not None

    async def verify(
        self, conn: AsyncConnection, user_id: uuid.UUID, answer: str, *, now: datetime
    ) -> bool:
        repository = MfaRepository(conn)
        row = await repository.totp(user_id)
        if row is None or row.confirmed_at is None:
            return False
        return await self.check(
            repository, user_id, row.secret, answer, now=now, after=row.last_step
        )

    async def check(
        self,
        repository: MfaRepository,
        user_id: uuid.UUID,
        sealed: bytes,
        answer: str,
        *,
        now: datetime,
        after: int | None,
        confirm: bool = False,
    ) -> bool:
        """Check a code against a sealed secret and record its step (never accepted again);
        `confirm` also turns the secret on (the first code of an enrolment)."""
        secret = self.box.unseal(sealed, aad=secret_aad(user_id))
        step = otp.matching_step(secret, answer, now=now.timestamp(), after=after)
        if step is None:
            return False
        return await repository.accept_step(user_id, step, confirm_at=now if confirm else None)


def hash_recovery_code(code: str) -> str:
    """A code as typed (any case, with or without its dash or spaces) to what is stored."""
    normal = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(f"waymark-recovery:{normal}".encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    """`RECOVERY_CODES` codes of 10 characters (49 bits each), shown as `xxxxx-xxxxx`."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


class RecoveryCodeFactor:
    kind = "recovery"
    amr = "otp"
    turns_mfa_on = False

    async def enrolled(self, conn: AsyncConnection, user_id: uuid.UUID) -> bool:
        return await MfaRepository(conn).recovery_codes_left(user_id) > 0

    async def verify(
        self, conn: AsyncConnection, user_id: uuid.UUID, answer: str, *, now: datetime
    ) -> bool:
        if len(answer) > 64:
            return False
        return await MfaRepository(conn).use_recovery_code(user_id, hash_recovery_code(answer))
