"""Passkeys (WebAuthn) as a way in: registering one to a signed-in account, signing in with
one (username-less: the authenticator offers what it holds for this site), and the account's
list of them (renamed, removed; never the last way in).

A ceremony's challenge is made fresh, kept in the database under the hash of a random id
(the `ceremony` the client sends back), answers once and lives `CEREMONY_SECONDS`: taken
(deleted) as it is read, whatever comes of it. `verify(...)` is the one check of an
assertion against a stored passkey, in transactions of its own. A passkey as a second factor
at MFA's challenge is `passkey_factor.PasskeyFactor` (checked inside the challenge's).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from sqlalchemy.exc import IntegrityError

from waymark.features.auth.errors import (
    PasskeyCounterRegressed,
    PasskeyExists,
    PasskeyRefused,
    SignInDenied,
    StrategyDisabled,
)
from waymark.features.auth.limits import PASSKEY_IP
from waymark.features.auth.passkey_store import CeremonyRow, PasskeyRepository, PasskeyRow, b64
from waymark.features.auth.relying_party import (
    Assertion,
    NewCredential,
    RelyingParty,
    credential_id_of,
    user_handle,
    user_handle_of,
)
from waymark.features.auth.schemas import MfaChallenge, PasskeyCeremony, PasskeyView, TokenPair
from waymark.features.auth.service import AuthService
from waymark.features.auth.sessions import NewSession
from waymark.features.auth.ways_in import require_another_way_in
from waymark.infra.sql.database import Database
from waymark.kernel.errors import NotFound
from waymark.kernel.identity import Account, ClientInfo, Principal, hash_token, new_token

CEREMONY_SECONDS = 180
"""How long a ceremony's challenge answers (the browser is asked to finish in 120 s)."""
Purpose = Literal["register", "sign-in"]


class PasskeyStrategy:
    """The passkey way in, registered like the others (`waymark.auth_strategies`) so a
    deployment can turn it on or off (`webauthn` in `auth.strategies`); the ceremonies are
    this module's (no redirect: the browser talks to its authenticator)."""

    kind: ClassVar[str] = "ceremony"


@dataclass(frozen=True)
class Verified:
    """An assertion that checked out, and the passkey it came from."""

    passkey: PasskeyRow
    assertion: Assertion


class Passkeys:
    def __init__(
        self, *, db: Database, auth: AuthService, relying_party: RelyingParty, on: bool
    ) -> None:
        self.db = db
        self.auth = auth
        self.rp = relying_party
        self.on = on
        self.clock = auth.sessions.clock

    # -- ceremonies -------------------------------------------------------------------------

    async def _begin(
        self, purpose: Purpose, user_id: uuid.UUID | None, client: ClientInfo
    ) -> tuple[str, bytes]:
        if not self.on:
            raise StrategyDisabled("passkeys are turned off here")
        await self.auth.throttle.check((PASSKEY_IP, client.ip))
        ceremony, challenge = new_token(), secrets.token_bytes(32)
        now = self.clock.now()
        row = CeremonyRow(
            purpose=purpose,
            user_id=user_id,
            challenge=b64(challenge),
            expires_at=now + timedelta(seconds=CEREMONY_SECONDS),
        )
        async with self.db.transaction() as conn:
            await PasskeyRepository(conn).add_ceremony(hash_token(ceremony), row, now=now)
        return ceremony, challenge

    async def _take(self, ceremony: str, purpose: Purpose, user_id: uuid.UUID | None) -> bytes:
        """The ceremony's challenge, once: unknown, expired, answered already, begun for
        something else or by another account: refused."""
        async with self.db.transaction() as conn:
            row = await PasskeyRepository(conn).take_ceremony(hash_token(ceremony))
        if (
            row is None
            or row.expires_at <= self.clock.now()
            or row.purpose != purpose
            or row.user_id != user_id
        ):
            raise PasskeyRefused("no such ceremony (expired, answered, or another's)")
        return row.challenge_bytes()

    async def verify(
        self,
        ceremony: str,
        credential: dict[str, Any],
        *,
        purpose: Purpose,
        account_id: uuid.UUID | None,
        client: ClientInfo,
    ) -> Verified:
        """The one check of an assertion: this ceremony's challenge (once), a passkey
        registered here (to `account_id`, when given), its signature, user verification and
        counter; the counter moves on. A counter that went back is written to the account's
        activity (`passkey.counter-regressed`) and refused."""
        challenge = await self._take(ceremony, purpose, account_id)
        credential_id = credential_id_of(credential)
        async with self.db.read() as conn:
            passkey = await PasskeyRepository(conn).by_credential(credential_id)
        if passkey is None or (account_id is not None and passkey.user_id != account_id):
            raise PasskeyRefused("no such passkey here")
        handle = user_handle_of(credential)
        if handle is not None and handle != user_handle(passkey.user_id):
            raise PasskeyRefused("the user handle is not this passkey's account's")
        try:
            assertion = self.rp.verify_assertion(
                credential,
                challenge=challenge,
                public_key=passkey.public_key,
                sign_count=passkey.sign_count,
            )
        except PasskeyCounterRegressed as regressed:  # logged by the relying party
            await self.auth.accounts.audit.record_alone(
                passkey.user_id,
                "passkey.counter-regressed",
                client,
                passkey=str(passkey.id),
                stored=regressed.stored,
                presented=regressed.presented,
            )
            raise
        async with self.db.transaction() as conn:
            moved = await PasskeyRepository(conn).used(
                passkey.id,
                was=passkey.sign_count,
                sign_count=assertion.sign_count,
                now=self.clock.now(),
            )
        if not moved:
            raise PasskeyRefused("the passkey was used at the same moment elsewhere")
        return Verified(passkey=passkey, assertion=assertion)

    # -- signing in (a first factor) --------------------------------------------------------

    async def begin_sign_in(self, *, client: ClientInfo) -> PasskeyCeremony:
        """Options for a username-less sign-in: no `allowCredentials`, user verification
        required. Throttled per IP (each ceremony is stored until answered or expired)."""
        ceremony, challenge = await self._begin("sign-in", None, client)
        return PasskeyCeremony(
            ceremony=ceremony, public_key=self.rp.authentication_options(challenge=challenge)
        )

    async def sign_in(
        self,
        *,
        ceremony: str,
        credential: dict[str, Any],
        mode: Literal["token", "session"],
        client: ClientInfo,
    ) -> tuple[Account, TokenPair | NewSession]:
        """Sign in with a passkey's assertion: the same session or tokens as any other way in
        (`AuthService.issue`, `via="webauthn"`, with the assertion's RFC 8176 `amr`)."""
        if not self.on:
            raise StrategyDisabled("passkeys are turned off here")
        verified = await self.verify(
            ceremony, credential, purpose="sign-in", account_id=None, client=client
        )
        account = await self.auth.accounts.profiles.active(verified.passkey.user_id)
        if account is None:
            raise PasskeyRefused("the passkey's account is gone or disabled")
        if not self.auth.callbacks.allows(account, None):
            raise SignInDenied()
        issued = await self.auth.issue(
            account, mode=mode, client=client, via="webauthn", amr=verified.assertion.amr
        )
        # A passkey is verified with user verification, so its `amr` says `mfa`: MFA's gate
        # asks nothing more of it, and a challenge never comes back here.
        assert not isinstance(issued, MfaChallenge)
        return account, issued

    # -- the account's passkeys -------------------------------------------------------------

    async def begin_registration(
        self, principal: Principal, *, client: ClientInfo
    ) -> PasskeyCeremony:
        """Options to register a passkey to the signed-in account: discoverable, user
        verification required, none it has already (`excludeCredentials`)."""
        account = principal.account
        async with self.db.read() as conn:
            mine = await PasskeyRepository(conn).of_user(account.id)
        ceremony, challenge = await self._begin("register", account.id, client)
        options = self.rp.registration_options(
            challenge=challenge,
            account_id=account.id,
            user_name=account.email,
            display_name=account.display_name,
            exclude=[p.credential_id for p in mine],
        )
        return PasskeyCeremony(ceremony=ceremony, public_key=options)

    async def register(
        self,
        principal: Principal,
        *,
        ceremony: str,
        credential: dict[str, Any],
        name: str,
        client: ClientInfo,
    ) -> PasskeyView:
        """Verify what the authenticator made for this account's ceremony, and keep it."""
        user_id = principal.account_id
        challenge = await self._take(ceremony, "register", user_id)
        made = self.rp.verify_registration(credential, challenge=challenge)
        now = self.clock.now()
        try:
            row = await self._store(user_id, made, name=name, now=now, client=client)
        except IntegrityError:  # the same passkey registered at the same moment elsewhere
            raise PasskeyExists() from None
        return PasskeyView.of(row)

    async def _store(
        self,
        user_id: uuid.UUID,
        made: NewCredential,
        *,
        name: str,
        now: datetime,
        client: ClientInfo,
    ) -> PasskeyRow:
        async with self.db.transaction() as conn:
            repository = PasskeyRepository(conn)
            if await repository.by_credential(made.credential_id) is not None:
                raise PasskeyExists()
            count = await repository.count_of_user(user_id)
            row = PasskeyRow(
                id=uuid.uuid4(),
                user_id=user_id,
                credential_id=made.credential_id,
                public_key=made.public_key,
                sign_count=made.sign_count,
                transports=" ".join(made.transports),
                aaguid=made.aaguid,
                backed_up=made.backed_up,
                name=name.strip() or f"Passkey {count + 1}",
                created_at=now,
                last_used_at=None,
            )
            await repository.add(row)
            await self.auth.accounts.audit.record(
                conn, user_id, "passkey.added", client, passkey=str(row.id)
            )
        return row

    async def list(self, principal: Principal) -> list[PasskeyView]:
        async with self.db.read() as conn:
            rows = await PasskeyRepository(conn).of_user(principal.account_id)
        return [PasskeyView.of(row) for row in rows]

    async def rename(
        self, principal: Principal, passkey_id: uuid.UUID, name: str, *, client: ClientInfo
    ) -> None:
        async with self.db.transaction() as conn:
            if not await PasskeyRepository(conn).rename(
                principal.account_id, passkey_id, name.strip()
            ):
                raise NotFound("no such passkey of yours")
            await self.auth.accounts.audit.record(
                conn, principal.account_id, "passkey.renamed", client, passkey=str(passkey_id)
            )

    async def remove(
        self, principal: Principal, passkey_id: uuid.UUID, *, client: ClientInfo
    ) -> None:
        """Remove a passkey; never the last way in (no password way in, no linked identity,
        no other passkey), as unlinking an identity."""
        password = self.auth.password_on and await self.auth.accounts.credentials.has_password(
            principal.account_id
        )
        async with self.db.transaction() as conn:
            repository = PasskeyRepository(conn)
            mine = {row.id for row in await repository.of_user(principal.account_id)}
            if passkey_id not in mine:
                raise NotFound("no such passkey of yours")
            await require_another_way_in(conn, principal.account_id, password=password)
            await repository.remove(principal.account_id, passkey_id)
            await self.auth.accounts.audit.record(
                conn, principal.account_id, "passkey.removed", client, passkey=str(passkey_id)
            )
