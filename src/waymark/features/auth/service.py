"""Authentication use cases, one entry point each: sign in, refresh, sign out (here or
everywhere), list and end sessions, and the password flows that end sessions: a change
(other sessions end, this one is renewed) and a reset (every session ends).

Each entry point owns its order, so a handler is one call: throttle first, then the checks
(argon2 holding no pooled connection), then the change, and the audit row only once the
change has happened (a sign-in is audited after its session or tokens exist).
"""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

from waymark.features.accounts.limits import account_key
from waymark.features.accounts.service import Accounts
from waymark.features.auth.authenticator import Authenticator, issued_before
from waymark.features.auth.errors import (
    InvalidRefreshToken,
    RefreshReused,
    SignInDenied,
    StrategyDisabled,
)
from waymark.features.auth.limits import LOGIN_ACCOUNT_IP, LOGIN_IP, REFRESH_IP
from waymark.features.auth.schemas import MfaChallenge, SessionView, TokenPair
from waymark.features.auth.sessions import NewSession, Sessions
from waymark.features.auth.strategies import Callbacks
from waymark.kernel.identity import Account, ClientInfo, Principal
from waymark.kernel.ports import SessionRecord
from waymark.kernel.throttle import Throttle

Issued = TokenPair | NewSession | MfaChallenge
"""What a first factor gets: tokens, a browser session, or a challenge for a second factor."""


class SecondFactorGate(Protocol):
    """Stands between a first factor and a session: a challenge for an account with MFA on,
    None otherwise. `mfa.Mfa` is the one; a sign-in never starts a session without asking."""

    async def challenge_for(
        self,
        account: Account,
        *,
        mode: Literal["token", "session"],
        via: str,
        client: ClientInfo,
    ) -> MfaChallenge | None: ...


class AuthService:
    def __init__(
        self,
        *,
        accounts: Accounts,
        sessions: Sessions,
        authenticator: Authenticator,
        throttle: Throttle,
        callbacks: Callbacks | None = None,
        password_on: bool = True,
        gate: SecondFactorGate | None = None,
    ) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.authenticator = authenticator
        self.throttle = throttle
        self.callbacks = callbacks or Callbacks()
        self.password_on = password_on
        self.gate = gate
        """Second factors (`mfa.Mfa`), set by the composition root: every sign-in passes it."""

    async def login(
        self,
        *,
        email: str,
        password: str,
        mode: Literal["token", "session"],
        client: ClientInfo,
    ) -> tuple[Account, Issued]:
        """Sign in with a password: tokens for an API client (`token`), a browser session
        (`session`). Throttled per account and IP (a correct password clears that count) and
        per IP; audited once the session or tokens exist."""
        if not self.password_on:
            raise StrategyDisabled("passwords are turned off here")
        key = account_key(email, client.ip)
        await self.throttle.check((LOGIN_ACCOUNT_IP, key), (LOGIN_IP, client.ip))
        account = await self.accounts.credentials.sign_in(
            email=email, password=password, client=client
        )
        await self.throttle.forgive(LOGIN_ACCOUNT_IP, key)
        if not self.callbacks.allows(account, None):
            raise SignInDenied()
        return account, await self.issue(account, mode=mode, client=client, via="password")

    async def issue(
        self,
        account: Account,
        *,
        mode: Literal["token", "session"],
        client: ClientInfo,
        via: str,
        amr: tuple[str, ...] = (),
    ) -> Issued:
        """What a sign-in gets once a strategy proved who it is, whichever strategy
        (`via`): tokens or a browser session, always new, audited once they exist; or, for
        an account with MFA on, a challenge to answer first (`gate`), never a session.
        `amr` (RFC 8176) is how the strategy proved it, when it tells (a passkey); one that
        is itself multi-factor (`mfa` among them: a passkey with user verification) needs
        no challenge."""
        if self.gate is not None and "mfa" not in amr:
            challenge = await self.gate.challenge_for(account, mode=mode, via=via, client=client)
            if challenge is not None:
                return challenge
        issued, _ = await self.start(account, mode=mode, client=client, via=via, amr=amr)
        return issued

    async def start(
        self,
        account: Account,
        *,
        mode: Literal["token", "session"],
        client: ClientInfo,
        via: str,
        amr: tuple[str, ...] = (),
        second_factor: tuple[str, str] | None = None,
    ) -> tuple[TokenPair | NewSession, str]:
        """Start the session or token family, proved by `via` (its `amr`, else `pwd` for a
        password, `fed` for another site) and, once the gate's challenge is answered,
        `second_factor` (its kind and RFC 8176 `amr` value); and its store key. Only the
        gate passes `second_factor`."""
        amr = amr or (("pwd",) if via == "password" else ("fed",))
        if second_factor is not None:
            amr = (*amr, second_factor[1], "mfa")
        issued: TokenPair | NewSession
        if mode == "token":
            issued, key = await self.sessions.start_family(account, client, amr=amr)
        else:
            issued = await self.sessions.start_browser_session(
                account, client, auth_level="mfa" if "mfa" in amr else "password"
            )
            key = issued.record.id_hash
        detail: dict[str, object] = (
            {"mode": mode} if via == "password" else {"mode": mode, "via": via}
        )
        if via == "webauthn":
            detail["amr"] = " ".join(amr)
        if second_factor is not None:
            detail["mfa"] = second_factor[0]
        await self.accounts.audit.record_alone(account.id, "login.succeeded", client, **detail)
        return issued, key

    async def refresh(self, refresh_token: str, *, client: ClientInfo) -> TokenPair:
        """Rotate a refresh token. A rotated token presented again after the grace window
        revokes its whole family, and the reuse is audited."""
        await self.throttle.check((REFRESH_IP, client.ip))
        try:
            rotated = await self.sessions.rotate(refresh_token)
        except RefreshReused as reused:
            await self.accounts.audit.record_alone(
                reused.user_id, "refresh.reused", client, family=reused.family_id
            )
            raise
        family = rotated.family
        account = await self.accounts.profiles.active(uuid.UUID(family.user_id))
        if account is None or issued_before(family.created_at, account.tokens_valid_after):
            # Gone, disabled, or signed out everywhere (a reset, logout-all) since the family
            # began: the account says so even if ending the family in the store failed then.
            await self.sessions.end_family(family.id)
            raise InvalidRefreshToken("account gone, disabled or signed out since")
        return self.sessions.access_for(rotated)

    async def logout(self, principal: Principal, *, client: ClientInfo) -> None:
        """End the session or token family this request came in with."""
        await self.sessions.end(principal)
        await self.accounts.audit.record_alone(principal.account_id, "logout", client)

    async def logout_everywhere(self, principal: Principal, *, client: ClientInfo) -> None:
        """End every session and token family of the account; the account's not-before moves
        too, so anything a failing store kept alive is refused all the same."""
        ended = await self.sessions.end_all(principal.account_id)
        await self.accounts.profiles.sign_out_everywhere(principal.account_id, client, ended=ended)

    async def list_sessions(self, principal: Principal) -> list[SessionView]:
        return await self.sessions.list(principal)

    async def end_session(
        self, principal: Principal, session_ref: str, *, client: ClientInfo
    ) -> bool:
        """End one of the caller's sessions or token families; False if it is not theirs."""
        if not await self.sessions.revoke(principal, session_ref):
            return False
        await self.accounts.audit.record_alone(
            principal.account_id, "session.revoked", client, session=session_ref
        )
        return True

    async def change_password(
        self,
        principal: Principal,
        *,
        current: str,
        new: str,
        end_other_sessions: bool,
        client: ClientInfo,
    ) -> NewSession | None:
        """Change the password (the current one is asked again). Other sessions end before
        the new password is stored: if the stores are down, nothing has changed yet and the
        caller may retry; never a new password with the old sessions still alive. The
        caller's browser session gets a new id and CSRF token (re-authentication)."""

        async def end_others() -> None:
            if end_other_sessions:
                await self.sessions.end_all(principal.account_id, keep=principal)

        await self.accounts.credentials.change_password(
            principal.account_id, current=current, new=new, client=client, before_storing=end_others
        )
        return await self.sessions.regenerate(principal)

    async def renew_session(self, principal: Principal) -> tuple[str, SessionRecord] | None:
        """`kernel.ports.SessionRenewal`: the caller's browser session regenerated after a
        change to its own privileges, made by another feature (joining a team)."""
        renewed = await self.sessions.regenerate(principal)
        return None if renewed is None else (renewed.id, renewed.record)

    async def reset_password(self, *, token: str, new_password: str, client: ClientInfo) -> None:
        """Set a new password with a mailed reset link, and end every session at once. The
        reset itself signed the account out everywhere (in its transaction); ending the
        stored sessions now covers one begun in the same second (not-before has whole
        seconds), and a store outage only delays that to the outbox's retry."""
        account_id = await self.accounts.credentials.reset(
            token=token, new_password=new_password, client=client
        )
        await self.sessions.end_all_quietly(account_id)
