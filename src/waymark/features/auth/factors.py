"""Second factors, each behind one small interface (`SecondFactor`: a kind name, whether the
account has it, verify an answer), so the challenge, step-up and turning MFA off take any
of them. Like the ways in (`strategies.py`), they are registered through entry points, here
the `waymark.second_factors` group (Waymark's own: `totp`, `recovery`, `email` in this module,
`webauthn` in `passkey_factor.py`), and settings choose which are on (`auth.factors`).

Why a group of their own and not `waymark.auth_strategies` with a kind marker: a factor is
built from other things than a strategy (`FactorTools`, not a provider's settings), answers
another question (a second proof for an account already named, not who is signing in), and
`webauthn` is both (a passkey signs in, and answers a challenge): one name per group.

A factor verifies inside the caller's transaction (`conn`), so what it consumes (a time
step, a recovery code) is consumed together with the challenge it answers, or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.mfa_repository import MfaRepository
from waymark.features.auth.relying_party import RelyingParty
from waymark.features.auth.strategies import load_factories
from waymark.infra.security import otp
from waymark.infra.security.secret_box import SecretBox
from waymark.kernel.errors import FieldError, ValidationFailed
from waymark.settings import AuthSettings

ENTRY_POINTS = "waymark.second_factors"

RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


class SecondFactor(Protocol):
    kind: str
    """How requests and `auth.factors` name it (`totp`, `recovery`, `email`, `webauthn`):
    its entry point's name."""
    amr: str
    """The RFC 8176 method value it adds to the token's `amr` (`otp`, `hwk`, ...), unless
    `verify` says which it proved (a synced passkey: `swk`)."""
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
    ) -> str | None:
        """The RFC 8176 method `answer` proved (its `amr`), None if it proves nothing; what
        it uses up is used up in `conn`. `attempt` is the challenge's id hash when answering
        a sign-in's challenge (None for a step-up, but for a ceremony's: the session's,
        `refs.step_up_attempt`), for factors bound to the attempt (mailed codes; a passkey's
        challenge)."""
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


@dataclass(frozen=True, kw_only=True)
class FactorTools:
    """What a factor's entry point is built with (`Factory(tools)`): it takes what it needs."""

    box: SecretBox
    """Seals secrets at rest (AES-256-GCM, a key from the local key file)."""
    relying_party: RelyingParty
    """The WebAuthn relying party (`WAYMARK_PUBLIC_URL`'s host)."""


FactorFactory = Callable[[FactorTools], SecondFactor]
"""What a `waymark.second_factors` entry point names."""


@dataclass(frozen=True)
class Factors:
    """The second factors of a deployment: every installed one, and those turned on."""

    installed: dict[str, SecondFactor]
    """By kind. A factor turned off still says whether an account has it: one that turns
    MFA on keeps it on (the account is asked for another factor, never let through)."""
    on: tuple[str, ...]
    """The kinds `auth.factors` turned on, in its order (the challenge's)."""


def build_factors(
    settings: AuthSettings, tools: FactorTools, factories: Mapping[str, Any] | None = None
) -> Factors:
    """Every installed factor, built, and those `auth.factors` turns on; a name there that
    no package installs stops the start, as does a factor whose `kind` is not its name.
    A factor with `needs_strategy` (the passkey's: `webauthn`) is on only with that way in."""
    factories = load_factories(ENTRY_POINTS) if factories is None else factories
    unknown = set(settings.factors) - set(factories)
    if unknown:
        raise ValueError(f"auth.factors names no second factor: {', '.join(sorted(unknown))}")
    installed: dict[str, SecondFactor] = {}
    for name, factory in factories.items():
        factor = factory(tools)
        if factor.kind != name:
            raise ValueError(f"second factor {name!r}: its kind is {factor.kind!r}")
        installed[name] = factor
    on = tuple(
        name
        for name in dict.fromkeys(settings.factors)
        if getattr(installed[name], "needs_strategy", None) in (None, *settings.strategies)
    )
    return Factors(installed, on)


def secret_aad(user_id: uuid.UUID) -> bytes:
    """What a sealed TOTP secret is bound to: its table, column and row."""
    return f"mfa_totp.secret:{user_id}".encode()


class TotpFactor:
    kind = "totp"
    amr = "otp"
    turns_mfa_on = True

    def __init__(self, tools: FactorTools) -> None:
        self.box = tools.box

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
    ) -> str | None:
        repository = MfaRepository(conn)
        row = await repository.totp(user_id)
        if row is None or row.confirmed_at is None:
            return None
        checked = await self.check(
            repository, user_id, row.secret, answer, now=now, after=row.last_step
        )
        return self.amr if checked else None

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

    def __init__(self, tools: FactorTools) -> None:
        pass

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
    ) -> str | None:
        if len(answer) > 64:
            return None
        used = await MfaRepository(conn).use_recovery_code(user_id, hash_recovery_code(answer))
        return self.amr if used else None


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

    def __init__(self, tools: FactorTools) -> None:
        pass

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
    ) -> str | None:
        if attempt is None or len(answer) > 64:
            return None
        repository = MfaRepository(conn)
        stored = await repository.email_code(attempt, now=now)
        if stored is None or not hmac.compare_digest(stored, hash_email_code(attempt, answer)):
            return None
        await repository.clear_email_code(attempt)
        return self.amr


def answer_of(factor: SecondFactor, code: str | None, credential: dict[str, Any] | None) -> str:
    """A code for a code's factor, a ceremony's `credential` (as JSON) for a passkey: one of
    them, the one this factor takes."""
    if isinstance(factor, CeremonyFactor) != (credential is not None) or (
        credential is None and code is None
    ):
        field = "credential" if isinstance(factor, CeremonyFactor) else "code"
        raise ValidationFailed([FieldError(field, f"required for kind {factor.kind}, alone")])
    return msgspec.json.encode(credential).decode() if credential is not None else str(code)


async def options_of(
    factor: SecondFactor,
    conn: AsyncConnection,
    user_id: uuid.UUID,
    attempt: str,
    *,
    expires_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """A `CeremonyFactor`'s options for an account that has it, bound to `attempt`; else 422."""
    if not isinstance(factor, CeremonyFactor):
        raise ValidationFailed([FieldError("kind", "a factor with options (webauthn)")])
    if not await factor.enrolled(conn, user_id):
        raise ValidationFailed([FieldError("kind", "not a factor of this account")])
    return await factor.options(conn, user_id, attempt=attempt, expires_at=expires_at, now=now)
