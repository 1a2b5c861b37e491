"""The accounts feature's outbox handlers: account mail and failed sign-ins, worked out after
the request.

Sign-up, forgot-password, resend-confirmation and failed sign-ins must do the same work
whether or not the address has an account (docs/security.md), or their timing tells who is
registered. So the request only writes one message, the same statement for every address,
and these handlers decide afterwards, in the relay's transaction, what (if anything) to do:
mail a confirmation link, a reset link or a notice to an owner, or audit a failure.

Both kinds run in the relay's transaction (`register_transactional`): a message is handled
exactly once, so a link is never minted twice (which would kill the first).
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.audit import AuditLog
from waymark.features.accounts.credentials import Credentials
from waymark.features.accounts.messages import (
    ACCOUNT_MAIL,
    LOGIN_FAILED,
    AccountMail,
    LoginFailure,
)
from waymark.features.accounts.registration import Registration
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure
from waymark.kernel.email_address import InvalidEmail

T = TypeVar("T")


class AccountJobs:
    def __init__(
        self, *, registration: Registration, credentials: Credentials, audit: AuditLog
    ) -> None:
        self.registration = registration
        self.credentials = credentials
        self.audit = audit

    async def mail(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        request = _decode(message, AccountMail)
        try:
            match request.purpose:
                case "sign-up":
                    await self.registration.after_sign_up(conn, request.email, request.next_path)
                case "verify-email":
                    await self.registration.mail_confirmation(
                        conn, request.email, request.next_path
                    )
                case "reset-password":
                    await self.credentials.mail_reset_link(conn, request.email)
                case "account-exists":
                    await self.registration.notify_account_exists(conn, request.email)
        except InvalidEmail as exc:  # queued before addresses were checked as they are now
            raise PermanentFailure(f"accounts.mail for no valid address: {exc.reason}") from exc

    async def login_failed(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        await self.audit.record_login_failure(conn, _decode(message, LoginFailure))

    def register(self, handlers: HandlerRegistry) -> None:
        # Addresses and IPs are personal data: erased from the rows once handled.
        handlers.register_transactional(ACCOUNT_MAIL, self.mail, redact_on_done=True)
        handlers.register_transactional(LOGIN_FAILED, self.login_failed, redact_on_done=True)


def _decode(message: OutboxMessage, type_: type[T]) -> T:
    try:
        return message.decode(type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
