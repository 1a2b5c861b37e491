"""Second factors, each behind one small interface (`SecondFactor`: a kind name, whether the
account has it, verify an answer), so the challenge, step-up and turning MFA off take any
of them: TOTP and recovery codes here, mailed codes and passkeys plugged in the same way.

A factor verifies inside the caller's transaction (`conn`), so what it consumes (a time
step, a recovery code) is consumed together with the challenge it answers, or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        answer: str,
        *,
        now: datetime,
        attempt: str | None = None,
    ) -> bool:
        """Whether `answer` proves the factor; what it uses up is used up in `conn`.
        `attempt` is the challenge's id hash when answering a sign-in's challenge (None for a
        step-up, but for a ceremony's: the session's, `refs.step_up_attempt`), for factors
        bound to the attempt (mailed codes; a passkey's challenge)."""
        ...


@runtime_checkable
class CeremonyFactor(SecondFactor, Protocol):
    """A factor the client must be given something for first (a passkey's options, bound to
    the challenge `attempt`, its id hash, and living no longer than `expires_at`)."""

    async def options(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        *,
        attempt: str,
        expires_at: datetime,
        now: datetime,
    ) -> dict[str, Any]: ...


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
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        answer: str,
        *,
        now: datetime,
        attempt: str | None = None,
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
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        answer: str,
        *,
        now: datetime,
        attempt: str | None = None,
    ) -> bool:
        if len(answer) > 64:
            return False
        return await MfaRepository(conn).use_recovery_code(user_id, hash_recovery_code(answer))


EMAIL_CODE_DIGITS = 6


def new_email_code() -> str:
    return str(secrets.randbelow(10**EMAIL_CODE_DIGITS)).zfill(EMAIL_CODE_DIGITS)


def hash_email_code(attempt: str, code: str) -> str:
    """What is stored of a mailed code: bound to its challenge (`attempt`, its id hash), so
    a code mailed for one sign-in proves nothing for another."""
    typed = "".join(code.split())
    return hashlib.sha256(f"waymark-email-code:{attempt}:{typed}".encode()).hexdigest()


class EmailCodeFactor:
    """A code mailed for one sign-in's challenge: an alternative to the app there, for an
    account that turned it on. Never for a step-up (no attempt to bind it to)."""

    kind = "email"
    amr = "otp"
    turns_mfa_on = False

    async def enrolled(self, conn: AsyncConnection, user_id: uuid.UUID) -> bool:
        return await MfaRepository(conn).email_on(user_id)

    async def verify(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        answer: str,
        *,
        now: datetime,
        attempt: str | None = None,
    ) -> bool:
        if attempt is None or len(answer) > 64:
            return False
        repository = MfaRepository(conn)
        stored = await repository.email_code(attempt, now=now)
        if stored is None or not hmac.compare_digest(stored, hash_email_code(attempt, answer)):
            return False
        await repository.clear_email_code(attempt)
        return True
