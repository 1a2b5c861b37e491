"""What the accounts feature writes to the outbox, for `jobs.py` to handle after the request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.outbox import Outbox
from waymark.kernel.identity import ClientInfo
from waymark.kernel.paths import local_path

ACCOUNT_MAIL = "accounts.mail"
LOGIN_FAILED = "accounts.login-failed"
# Domain events (`Outbox.publish`: one message per subscriber), each payload versioned.
SIGNED_OUT_EVERYWHERE = "accounts.signed-out-everywhere"
"""The account refuses every session and token issued before now (a reset, a deletion, an
operator disabling it). Consumers end what they keep for it."""
ACCOUNT_DELETED = "accounts.deleted"
"""The account and its rows are gone. Consumers delete what they keep for it elsewhere."""

MailPurpose = Literal["sign-up", "verify-email", "reset-password", "account-exists"]
"""`sign-up`: a confirmation link or an owner's notice, whichever the account's state asks
for when the message is handled (`account-exists` is what older messages carry)."""


class AccountMail(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of an `accounts.mail` message."""

    email: str
    purpose: MailPurpose
    next_path: str = ""
    """A path on this site that a mailed confirmation link leads back to once its holder
    has signed in (a sign-up begun from an invite's page returns to it); empty for none.
    Older messages have none."""


class LoginFailure(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of an `accounts.login-failed` message: audited if the account exists."""

    email: str
    ip: str = ""
    user_agent: str = ""


class AccountDeleted(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of `accounts.deleted` (version 1)."""

    version: Literal[1] = 1
    account_id: str


class SignedOutEverywhere(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of `accounts.signed-out-everywhere` (version 1)."""

    version: Literal[1] = 1
    account_id: str
    reason: Literal["password-reset", "deleted", "disabled"]
    not_before: float | None = None
    """The not-before the account moved to (Unix seconds): what began at or after it (a
    sign-in right after a reset, before this message was handled) is not ended. None
    (a deletion, a disabling, older messages): everything is."""


async def announce_signed_out_everywhere(
    outbox: Outbox,
    conn: AsyncConnection,
    account_id: uuid.UUID,
    reason: Literal["password-reset", "deleted", "disabled"],
    *,
    not_before: datetime | None = None,
) -> None:
    """In the transaction that moved the account's not-before to `not_before` (or deleted
    or disabled it)."""
    cutoff = None if not_before is None else not_before.timestamp()
    await outbox.publish(
        conn,
        SIGNED_OUT_EVERYWHERE,
        SignedOutEverywhere(account_id=str(account_id), reason=reason, not_before=cutoff),
    )


async def announce_deleted(outbox: Outbox, conn: AsyncConnection, account_id: uuid.UUID) -> None:
    """In the transaction that deleted the account: whatever other features keep for it
    outside this database's cascades (documents, say) goes too."""
    await outbox.publish(conn, ACCOUNT_DELETED, AccountDeleted(account_id=str(account_id)))


async def queue_account_mail(
    outbox: Outbox,
    conn: AsyncConnection,
    *,
    email: str,
    purpose: MailPurpose,
    next_path: str = "",
) -> None:
    """One `accounts.mail` message, whatever the address: `jobs.py` works out after the
    request what to send, so every address costs the request the same. `next_path` is kept
    only if it is a path on this site."""
    mail = AccountMail(email=email, purpose=purpose, next_path=local_path(next_path, ""))
    await outbox.enqueue(conn, ACCOUNT_MAIL, mail)


async def queue_login_failure(
    outbox: Outbox, conn: AsyncConnection, *, email: str, client: ClientInfo
) -> None:
    """One `accounts.login-failed` message whether or not the address has an account; the
    audit row, for a known one, is written afterwards."""
    await outbox.enqueue(
        conn,
        LOGIN_FAILED,
        LoginFailure(email=email, ip=client.ip, user_agent=client.user_agent),
    )
