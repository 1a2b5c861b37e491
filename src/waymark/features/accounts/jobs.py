"""Account mail worked out after the request, through the outbox.

Register, forgot-password and resend-verification must do the same work whether or not the
address has an account (SECURITY.md), or their timing tells who is registered. So the request
only writes one `accounts.mail` message, the same statement for every address, and this
handler decides afterwards, in the relay's transaction, what (if anything) to send: a
confirmation link, a reset link, or a notice to an owner that someone tried to register
their address again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.kernel.email_address import InvalidEmail

if TYPE_CHECKING:
    from waymark.features.accounts.service import AccountService

ACCOUNT_MAIL = "accounts.mail"
LOGIN_FAILED = "accounts.login-failed"

MailPurpose = Literal["sign-up", "verify-email", "reset-password", "account-exists"]
"""`sign-up`: a confirmation link or an owner's notice, whichever the account's state asks
for when the message is handled (`account-exists` is what older messages carry)."""


class AccountMail(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of an `accounts.mail` message."""

    email: str
    purpose: MailPurpose


class LoginFailure(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of an `accounts.login-failed` message: audited if the account exists."""

    email: str
    ip: str = ""
    user_agent: str = ""


class AccountMailHandler:
    """Both kinds run in the relay's transaction (`register_transactional`): a message is
    handled exactly once, so a link is never minted twice (which would kill the first)."""

    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts

    async def __call__(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        try:
            request = message.decode(AccountMail)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad accounts.mail payload: {exc}") from exc
        try:
            if request.purpose == "sign-up":
                await self.accounts.after_sign_up(conn, email=request.email)
            elif request.purpose == "account-exists":
                await self.accounts.notify_account_exists(conn, email=request.email)
            else:
                await self.accounts.mail_link(conn, email=request.email, purpose=request.purpose)
        except InvalidEmail as exc:  # queued before addresses were checked as they are now
            raise PermanentFailure(f"accounts.mail for no valid address: {exc.reason}") from exc

    async def login_failed(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        try:
            failure = message.decode(LoginFailure)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad accounts.login-failed payload: {exc}") from exc
        await self.accounts.record_login_failure(conn, failure)

    def register(self, handlers: HandlerRegistry) -> None:
        # Addresses and IPs are personal data: erased from the rows once handled.
        handlers.register_transactional(ACCOUNT_MAIL, self, redact_on_done=True)
        handlers.register_transactional(LOGIN_FAILED, self.login_failed, redact_on_done=True)
