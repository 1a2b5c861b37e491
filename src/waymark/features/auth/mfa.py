"""Multi-factor authentication, one entry point per use case: enrol a TOTP app (start,
confirm with a first code), answer the challenge that stands between a first factor and a
session, step up before a sensitive action, regenerate recovery codes, turn MFA off.

The challenge. `AuthService.issue` asks this gate first, whatever the first factor was
(password in token or session mode, OIDC, GitHub): for an account with MFA on it gets a
challenge, never a session. A challenge is a random token kept server-side as its hash,
single use, `CHALLENGE_SECONDS` long and `MAX_TRIES` wrong answers at most, remembering what
it will start (tokens or a browser session) and how the first factor was proved; it is not
tied to IP or user agent (phones change networks mid-sign-in). Answered, it starts a new
session or token family whose `amr` says both factors (`["pwd", "otp", "mfa"]`), which a
refresh or a session renewal keeps and never raises.

Step-up: a second factor proved on a session (a passkey's options bound to it) is recorded
(`mfa_step_ups`); `require_step_up` (the kernel's `StepUp` port) asks for one from the last
`STEP_UP_SECONDS` before a sensitive action, when the account has MFA on.

Factors turned off (`auth.factors`, `factors.Factors`): never offered, enrolled, nor taken as
an answer (`FactorDisabled`). Whether MFA is on for an account still counts every factor it
has, so an account whose app was turned off is asked for its other factors, and refused
(`NoFactorOn`) when none of them is on: never let through on its first factor alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from waymark.features.auth.errors import (
    ChallengeEnded,
    EmailCodesOff,
    FactorDisabled,
    MfaAlreadyOn,
    MfaNotOn,
    NoEnrolment,
    NoFactorOn,
    SecondFactorRefused,
)
from waymark.features.auth.factors import (
    CeremonyFactor,
    Factors,
    SecondFactor,
    TotpFactor,
    answer_of,
    hash_email_code,
    hash_recovery_code,
    new_email_code,
    new_recovery_codes,
    options_of,
    secret_aad,
)
from waymark.features.auth.limits import MFA_ACCOUNT, MFA_EMAIL_ACCOUNT, MFA_IP
from waymark.features.auth.mfa_repository import ChallengeRow, MfaRepository
from waymark.features.auth.refs import browser_ref, step_up_attempt
from waymark.features.auth.schemas import (
    MfaChallenge,
    MfaStatus,
    RecoveryCodes,
    TokenPair,
    TotpEnrolment,
)
from waymark.features.auth.service import AuthService
from waymark.features.auth.sessions import NewSession
from waymark.infra.mail.jobs import enqueue_mail
from waymark.infra.outbox import Outbox
from waymark.infra.security import otp
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.sql.database import Database
from waymark.kernel.errors import FieldError, RateLimited, StepUpRequired, ValidationFailed
from waymark.kernel.identity import Account, ClientInfo, Principal, hash_token, new_token
from waymark.kernel.throttle import Rule

CHALLENGE_SECONDS = 300
MAX_TRIES = 5
STEP_UP_SECONDS = 600
EMAIL_CODES_PER_CHALLENGE = 3
ISSUER = "Waymark"


class Mfa:
    def __init__(
        self,
        *,
        db: Database,
        auth: AuthService,
        box: SecretBox,
        outbox: Outbox,
        factors: Factors,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.auth = auth
        self.clock = auth.sessions.clock
        self.throttle = auth.throttle
        self.box = box
        self.installed = factors.installed
        self.factors = {kind: factors.installed[kind] for kind in factors.on}
        """The factors turned on, in the order the challenge offers them."""

    # -- the gate ----------------------------------------------------------------------------

    async def standing(self, user_id: uuid.UUID) -> tuple[bool, list[str]]:
        """Whether MFA is on for the account (a factor it has turns it on, even one turned
        off here since), and which of its factors it may answer with here."""
        async with self.db.read() as conn:
            has = [f for f in self.installed.values() if await f.enrolled(conn, user_id)]
        if not any(f.turns_mfa_on for f in has):
            return False, []
        return True, [kind for kind in self.factors if self.installed[kind] in has]

    async def challenge_for(
        self,
        account: Account,
        *,
        mode: Literal["token", "session"],
        via: str,
        client: ClientInfo,
    ) -> MfaChallenge | None:
        """`service.SecondFactorGate`: a challenge if the account has MFA on (`NoFactorOn`
        if none of its factors is on here)."""
        mfa_on, factors = await self.standing(account.id)
        if not mfa_on:
            return None
        if not factors:
            raise NoFactorOn()
        token, now = new_token(), self.clock.now()
        row = ChallengeRow(
            user_id=account.id,
            mode=mode,
            via=via,
            tries=0,
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        )
        async with self.db.transaction() as conn:
            await MfaRepository(conn).add_challenge(hash_token(token), row, now=now)
            await self.auth.accounts.audit.record(
                conn, account.id, "mfa.challenged", client, mode=mode, via=via
            )
        return MfaChallenge(challenge=token, expires_in=CHALLENGE_SECONDS, factors=factors)

    async def answer(
        self,
        challenge: str,
        *,
        kind: str,
        code: str | None,
        client: ClientInfo,
        credential: dict[str, Any] | None = None,
    ) -> tuple[Account, TokenPair | NewSession]:
        """Answer a challenge with a `code`, or a passkey's `credential` (its assertion, for
        the options of `factor_options`): the session or tokens it was standing in for. A
        wrong answer counts; the fifth ends the challenge (`ChallengeEnded`: sign in again)."""
        id_hash, now = hash_token(challenge), self.clock.now()
        factor = self._factor(kind)
        answer = answer_of(factor, code, credential)
        row = await self._live_challenge(id_hash, client=client, per_account=MFA_ACCOUNT)
        async with self.db.transaction() as conn:
            repository = MfaRepository(conn)
            proved = await factor.verify(conn, row.user_id, answer, now=now, attempt=id_hash)
            if proved is not None:
                if not await repository.take_challenge(id_hash):
                    raise ChallengeEnded()  # answered meanwhile: rolls back what verify used
            else:
                alive = await repository.count_try(id_hash, max_tries=MAX_TRIES)
                await self.auth.accounts.audit.record(
                    conn, row.user_id, "mfa.failed", client, factor=factor.kind
                )
        if proved is None:
            raise SecondFactorRefused() if alive else ChallengeEnded()
        account = await self.auth.accounts.profiles.active(row.user_id)
        if account is None:
            raise ChallengeEnded("the account is gone or disabled")
        mode: Literal["token", "session"] = "token" if row.mode == "token" else "session"
        issued, key = await self.auth.start(
            account, mode=mode, client=client, via=row.via, second_factor=(factor.kind, proved)
        )
        async with self.db.transaction() as conn:
            await MfaRepository(conn).record_step_up(key, account.id, now=now)
        return account, issued

    async def _live_challenge(
        self, id_hash: str, *, client: ClientInfo, per_account: Rule
    ) -> ChallengeRow:
        """The live challenge of that hash (else `ChallengeEnded`), throttled per IP before
        it is read and per its account (`per_account`) after."""
        await self.throttle.check((MFA_IP, client.ip))
        async with self.db.read() as conn:
            row = await MfaRepository(conn).challenge(id_hash, now=self.clock.now())
        if row is None:
            raise ChallengeEnded()
        await self.throttle.check((per_account, str(row.user_id)))
        return row

    async def factor_options(
        self, challenge: str, *, kind: str, client: ClientInfo
    ) -> dict[str, Any]:
        """What the client needs to answer this challenge with a `CeremonyFactor` (a
        passkey's `navigator.credentials.get()` options): for the challenge's account, bound
        to the challenge, single use (a new request voids the one before)."""
        id_hash = hash_token(challenge)
        row = await self._live_challenge(id_hash, client=client, per_account=MFA_ACCOUNT)
        return await self._options(kind, row.user_id, attempt=id_hash, expires_at=row.expires_at)

    async def _options(
        self, kind: str, user_id: uuid.UUID, *, attempt: str, expires_at: datetime
    ) -> dict[str, Any]:
        factor, now = self._factor(kind), self.clock.now()
        async with self.db.transaction() as conn:
            return await options_of(factor, conn, user_id, attempt, expires_at=expires_at, now=now)

    async def factors_of(self, challenge: str) -> list[str] | None:
        """What a live challenge can be answered with (for its page); None if it ended."""
        async with self.db.read() as conn:
            row = await MfaRepository(conn).challenge(hash_token(challenge), now=self.clock.now())
        return None if row is None else (await self.standing(row.user_id))[1]

    async def send_email_code(self, challenge: str, *, client: ClientInfo) -> None:
        """Mail a code for this challenge (the previous one void) to the account's address,
        for an account that turned codes by mail on: 6 digits, bound to this challenge, as
        long as it lives (5 minutes at most), `EMAIL_CODES_PER_CHALLENGE` per challenge."""
        id_hash = hash_token(challenge)
        self._factor("email")
        row = await self._live_challenge(id_hash, client=client, per_account=MFA_EMAIL_ACCOUNT)
        account = await self.auth.accounts.profiles.active(row.user_id)
        if account is None:
            raise ChallengeEnded("the account is gone or disabled")
        code = new_email_code()
        async with self.db.transaction() as conn:
            repository = MfaRepository(conn)
            if not await repository.email_on(row.user_id):
                raise EmailCodesOff()
            if not await repository.put_email_code(
                id_hash,
                hash_email_code(id_hash, code),
                expires_at=row.expires_at,
                max_sends=EMAIL_CODES_PER_CHALLENGE,
            ):
                limited = RateLimited("no more codes for this sign-in: start again")
                limited.headers["retry-after"] = str(CHALLENGE_SECONDS)
                raise limited
            await enqueue_mail(
                self.outbox,
                conn,
                to=account.email,
                template="sign-in-code",
                context={"code": code, "minutes": CHALLENGE_SECONDS // 60},
            )

    async def set_email_codes(self, principal: Principal, *, on: bool, client: ClientInfo) -> None:
        """Turn codes by mail on or off, as an alternative to the app at the challenge (MFA
        must be on); needs a recent second factor."""
        if on:
            self._factor("email")
        await self.require_step_up(principal)
        if not (await self.standing(principal.account_id))[0]:
            raise MfaNotOn()
        async with self.db.transaction() as conn:
            await MfaRepository(conn).set_email(principal.account_id, on=on, now=self.clock.now())
            await self.auth.accounts.audit.record(
                conn, principal.account_id, "mfa.email-codes", client, on=on
            )

    # -- enrolment -----------------------------------------------------------------------------

    async def status(self, principal: Principal) -> MfaStatus:
        mfa_on, factors = await self.standing(principal.account_id)
        async with self.db.read() as conn:
            left = await MfaRepository(conn).recovery_codes_left(principal.account_id)
        return MfaStatus(enabled=mfa_on, factors=factors, recovery_codes_left=left)

    async def start_totp(self, principal: Principal) -> TotpEnrolment:
        """A new secret for an authenticator app, sealed at rest; not on until confirmed."""
        user_id, now = principal.account_id, self.clock.now()
        self._totp()
        secret = otp.new_secret()
        async with self.db.transaction() as conn:
            repository = MfaRepository(conn)
            existing = await repository.totp(user_id)
            if existing is not None and existing.confirmed_at is not None:
                raise MfaAlreadyOn()
            await repository.begin_totp(
                user_id, self.box.seal(secret, aad=secret_aad(user_id)), now=now
            )
        return self._enrolment(principal, secret)

    async def pending_totp(self, principal: Principal) -> TotpEnrolment | None:
        """The enrolment begun and not yet confirmed, shown again (a page reloaded, a code
        mistyped); None if there is none, or if TOTP is off here."""
        user_id = principal.account_id
        if "totp" not in self.factors:
            return None
        async with self.db.read() as conn:
            row = await MfaRepository(conn).totp(user_id)
        if row is None or row.confirmed_at is not None:
            return None
        return self._enrolment(principal, self.box.unseal(row.secret, aad=secret_aad(user_id)))

    def _enrolment(self, principal: Principal, secret: bytes) -> TotpEnrolment:
        uri = otp.otpauth_uri(secret, issuer=ISSUER, account=principal.account.email)
        return TotpEnrolment(
            secret=otp.encode_secret(secret), otpauth_uri=uri, qr_svg=otp.qr_svg(uri)
        )

    async def confirm_totp(
        self, principal: Principal, *, code: str, password: str, client: ClientInfo
    ) -> tuple[RecoveryCodes, NewSession | None]:
        """The first code, with the current password again, turns MFA on: recovery codes
        are made (shown once), every other session and token family ends (none of them
        proved a second factor), and this one is recorded as stepped up; a browser session
        gets a new id, now at level `mfa`."""
        user_id, now = principal.account_id, self.clock.now()
        totp = self._totp()
        await self.throttle.check((MFA_IP, client.ip), (MFA_ACCOUNT, str(user_id)))
        if self.auth.password_on:  # the password again (or a fresh sign-in at a provider)
            key, credentials = principal.session_key, self.auth.accounts.credentials
            await credentials.reauthenticate(
                user_id, password, action="mfa.enable", client=client, session_key=key
            )
        codes = new_recovery_codes() if "recovery" in self.factors else []
        async with self.db.transaction() as conn:
            repository = MfaRepository(conn)
            row = await repository.totp(user_id)
            if row is None:
                raise NoEnrolment()
            if row.confirmed_at is not None:
                raise MfaAlreadyOn()
            if not await totp.check(
                repository, user_id, row.secret, code, now=now, after=None, confirm=True
            ):
                raise SecondFactorRefused()
            await repository.replace_recovery_codes(
                user_id, [hash_recovery_code(c) for c in codes], now=now
            )
            await self.auth.accounts.audit.record(
                conn, user_id, "mfa.enabled", client, factor="totp"
            )
        await self.auth.sessions.end_all(user_id, keep=principal)
        renewed = await self.auth.sessions.regenerate(principal, auth_level="mfa")
        key = principal.session_key if renewed is None else renewed.record.id_hash
        async with self.db.transaction() as conn:
            await MfaRepository(conn).record_step_up(key, user_id, now=now)
        return RecoveryCodes(recovery_codes=codes), renewed

    # -- step-up and what needs it ---------------------------------------------------------

    async def step_up(
        self,
        principal: Principal,
        *,
        kind: str,
        code: str | None,
        client: ClientInfo,
        credential: dict[str, Any] | None = None,
    ) -> tuple[Principal, NewSession | None]:
        """Prove a second factor (a code, or a passkey's `credential` for `step_up_options`) on
        this session for `STEP_UP_SECONDS`. A browser session gets a new id and CSRF token (a
        rise in what it may do): the caller as it now is, and that renewed session."""
        user_id, now = principal.account_id, self.clock.now()
        await self.throttle.check((MFA_IP, client.ip), (MFA_ACCOUNT, str(user_id)))
        factor = self._factor(kind)
        answer = answer_of(factor, code, credential)
        attempt = step_up_attempt(principal) if isinstance(factor, CeremonyFactor) else None
        async with self.db.transaction() as conn:
            verified = await factor.verify(conn, user_id, answer, now=now, attempt=attempt)
            event = "mfa.step-up" if verified else "mfa.failed"
            await self.auth.accounts.audit.record(conn, user_id, event, client, factor=kind)
        if not verified:
            raise SecondFactorRefused()
        renewed = await self.auth.sessions.regenerate(principal, auth_level="mfa")
        if renewed is not None:
            principal = msgspec.structs.replace(
                principal,
                session_key=renewed.record.id_hash,
                session_ref=browser_ref(renewed.record.id_hash),
                csrf_token=renewed.record.csrf_token,
            )
        async with self.db.transaction() as conn:
            await MfaRepository(conn).record_step_up(principal.session_key, user_id, now=now)
        return principal, renewed

    async def step_up_options(
        self, principal: Principal, *, kind: str, client: ClientInfo
    ) -> dict[str, Any]:
        """Options to step up with a passkey, bound to this session: single use (a new request
        voids the one before; an answer, right or wrong, uses them up), 3 minutes."""
        user_id, attempt = principal.account_id, step_up_attempt(principal)
        await self.throttle.check((MFA_IP, client.ip), (MFA_ACCOUNT, str(user_id)))
        until = self.clock.now() + timedelta(seconds=CHALLENGE_SECONDS)
        return await self._options(kind, user_id, attempt=attempt, expires_at=until)

    async def require_step_up(self, principal: Principal) -> None:
        """`kernel.ports.StepUp`: StepUpRequired unless the account has MFA off or this
        session proved a second factor in the last `STEP_UP_SECONDS`."""
        if not (await self.standing(principal.account_id))[0]:
            return
        since = self.clock.now() - timedelta(seconds=STEP_UP_SECONDS)
        async with self.db.read() as conn:
            recent = await MfaRepository(conn).stepped_up_since(
                principal.session_key, principal.account_id, since
            )
        if not recent:
            raise StepUpRequired()

    async def regenerate_recovery_codes(
        self, principal: Principal, *, client: ClientInfo
    ) -> RecoveryCodes:
        """A new set (shown once); the old set stops working. Needs a recent second factor."""
        self._factor("recovery")
        await self.require_step_up(principal)
        user_id = principal.account_id
        if not (await self.standing(user_id))[0]:
            raise MfaNotOn()
        codes = new_recovery_codes()
        async with self.db.transaction() as conn:
            await MfaRepository(conn).replace_recovery_codes(
                user_id, [hash_recovery_code(c) for c in codes], now=self.clock.now()
            )
            await self.auth.accounts.audit.record(conn, user_id, "mfa.recovery-codes", client)
        return RecoveryCodes(recovery_codes=codes)

    async def disable(self, principal: Principal, *, client: ClientInfo) -> None:
        """MFA off: the secret and recovery codes go. Needs a recent second factor."""
        await self.require_step_up(principal)
        async with self.db.transaction() as conn:
            if not await MfaRepository(conn).remove_factors(principal.account_id):
                raise MfaNotOn()
            await self.auth.accounts.audit.record(
                conn, principal.account_id, "mfa.disabled", client
            )

    def _factor(self, kind: str) -> SecondFactor:
        """The factor of that kind, if it is on (`FactorDisabled` if it is installed and
        off, 422 if no such factor is installed)."""
        factor = self.factors.get(kind)
        if factor is None and kind in self.installed:
            raise FactorDisabled()
        if factor is None:
            raise ValidationFailed([FieldError("kind", f"one of {', '.join(self.factors)}")])
        return factor

    def _totp(self) -> TotpFactor:
        factor = self._factor("totp")
        assert isinstance(factor, TotpFactor)
        return factor
