"""A passkey as a second factor at MFA's challenge (`factors.SecondFactor`, kind `webauthn`).

Bound to the challenge: its options (`options`) are for the challenge's account only
(`allowCredentials` names its passkeys), and the WebAuthn challenge in them is kept as a
ceremony under the MFA challenge's own id hash, so an assertion answers that sign-in and no
other, once (a new options request replaces it; an answer takes it, right or wrong).

Why not `Passkeys.verify`: it opens its own transactions (the ceremony taken and committed
first, so a failed assertion can never be replayed), and the house never nests them. Here the
whole check runs in the challenge answer's transaction (`conn`) instead: the ceremony taken,
the passkey read, the signature checked, the counter moved. A wrong answer is still committed
there (MFA counts the try in the same transaction), so the ceremony is gone after it; a right
one commits with the challenge taken, or rolls back with it when another answer won.

A passkey does not turn MFA on (`turns_mfa_on = False`), as at GitHub (a passkey is a way
to answer two-factor once it is on, via an app) and Supabase (first-factor passkeys are not
MFA factors): registering one is a way in, not a promise that every password sign-in is
challenged. For a step-up, the ceremony is kept under the session's own name
(`refs.step_up_attempt`) instead of a challenge's: bound to that session, once.

Its `amr` (RFC 8176) is the key's: `swk` for a synced passkey (backed up, its private key
held by software that copies it between devices; the assertion's BE/BS flags say so),
`hwk` for one bound to its device's hardware, as a passkey signing in first records it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.errors import PasskeyCounterRegressed, PasskeyRefused
from waymark.features.auth.factors import FactorTools
from waymark.features.auth.passkey_store import CeremonyRow, PasskeyRepository, b64
from waymark.features.auth.relying_party import (
    RelyingParty,
    credential_id_of,
    user_handle,
    user_handle_of,
)

PURPOSE = "second-factor"


class PasskeyFactor:
    kind = "webauthn"
    amr = "hwk"
    """RFC 8176: proof of possession of a hardware-held key; `verify` says `swk` for a
    synced one."""
    turns_mfa_on = False
    needs_strategy = "webauthn"
    """On only where passkeys are a way in too (registering one is that strategy's)."""

    def __init__(self, tools: FactorTools) -> None:
        self.rp: RelyingParty = tools.relying_party

    async def enrolled(self, conn: AsyncConnection, user_id: uuid.UUID) -> bool:
        return await PasskeyRepository(conn).count_of_user(user_id) > 0

    async def options(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        *,
        attempt: str,
        expires_at: datetime,
        now: datetime,
    ) -> dict[str, Any]:
        """`navigator.credentials.get()` options for this challenge (`attempt`, its id hash)
        and its account's passkeys; the one before for this challenge is void."""
        repository = PasskeyRepository(conn)
        mine = await repository.of_user(user_id)
        challenge = secrets.token_bytes(32)
        await repository.take_ceremony(attempt)
        row = CeremonyRow(
            purpose=PURPOSE,
            user_id=user_id,
            challenge=b64(challenge),
            expires_at=min(expires_at, now + timedelta(minutes=3)),
        )
        await repository.add_ceremony(attempt, row, now=now)
        return self.rp.authentication_options(
            challenge=challenge, allow=[p.credential_id for p in mine]
        )

    async def verify(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        answer: str,
        *,
        now: datetime,
        attempt: str | None = None,
    ) -> str | None:
        """`answer` is the assertion (`PublicKeyCredential.toJSON()`) as JSON; `hwk` or
        `swk` (RFC 8176) by the key that signed it."""
        if attempt is None:
            return None
        repository = PasskeyRepository(conn)
        ceremony = await repository.take_ceremony(attempt)
        if (
            ceremony is None
            or ceremony.purpose != PURPOSE
            or ceremony.user_id != user_id
            or ceremony.expires_at <= now
        ):
            return None
        try:
            credential = json.loads(answer)
            passkey = await repository.by_credential(credential_id_of(credential))
            handle = user_handle_of(credential)
        except (ValueError, TypeError, AttributeError, PasskeyRefused):
            return None
        if passkey is None or passkey.user_id != user_id:
            return None  # another account's passkey (or none here)
        if handle is not None and handle != user_handle(user_id):
            return None
        challenge = ceremony.challenge_bytes()
        try:
            assertion = self.rp.verify_assertion(
                credential,
                challenge=challenge,
                public_key=passkey.public_key,
                sign_count=passkey.sign_count,
            )
        except (PasskeyCounterRegressed, PasskeyRefused):  # a regression is logged there
            return None
        moved = await repository.used(
            passkey.id, was=passkey.sign_count, sign_count=assertion.sign_count, now=now
        )
        return assertion.key_amr if moved else None
