"""SQL for accounts. Every function takes the caller's connection; none commits."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.tables import audit_events, email_tokens, users
from waymark.infra.sql.database import Database, HotRead
from waymark.kernel.authz import PLATFORM_ROLE_OF, PlatformRole
from waymark.kernel.errors import Conflict
from waymark.kernel.identity import Account


class UserRow(msgspec.Struct, kw_only=True):
    """A `users` row, password hash included: it never leaves the accounts feature (other
    features get `view()`), and its repr leaves the hash out."""

    id: uuid.UUID
    email: str
    password_hash: str
    display_name: str
    time_zone: str
    platform_role: str
    team_reminders: bool
    weekly_digest: bool
    email_verified_at: datetime | None
    disabled_at: datetime | None
    tokens_valid_after: datetime
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:
        return f"UserRow(id={self.id!r}, email={self.email!r}, password_hash=<hidden>)"

    def view(self) -> Account:
        return Account(
            id=self.id,
            email=self.email,
            display_name=self.display_name,
            time_zone=self.time_zone,
            email_verified=self.email_verified_at is not None,
            disabled=self.disabled_at is not None,
            platform_role=PlatformRole(self.platform_role),
            team_reminders=self.team_reminders,
            weekly_digest=self.weekly_digest,
            tokens_valid_after=self.tokens_valid_after,
            created_at=self.created_at,
        )


class EmailTokenRow(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    purpose: str
    new_email: str | None
    expires_at: datetime
    used_at: datetime | None


class AuditRow(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    ip: str
    user_agent: str
    detail: str
    created_at: datetime


_USER_COLUMNS = [users.c[name] for name in UserRow.__struct_fields__]
# Read on every authenticated request (the caller's account): straight to the driver, and
# without the password hash, which the request has no use for.
_ACCOUNT_BY_ID = HotRead(
    select(
        users.c.id,
        users.c.email,
        users.c.display_name,
        users.c.time_zone,
        users.c.email_verified_at.is_not(None).label("email_verified"),
        users.c.disabled_at.is_not(None).label("disabled"),
        users.c.platform_role,
        users.c.team_reminders,
        users.c.weekly_digest,
        users.c.tokens_valid_after,
        users.c.created_at,
    ).where(users.c.id == bindparam("user_id"))
)
# Several accounts' public views (a team's members), straight to the driver too.
_ACCOUNTS_BY_ID = HotRead(
    select(*_ACCOUNT_BY_ID.statement.selected_columns).where(
        users.c.id.in_(bindparam("user_ids", expanding=True, type_=users.c.id.type))
    )
)
_TOKEN_COLUMNS = [email_tokens.c[name] for name in EmailTokenRow.__struct_fields__]


class AccountRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- users -------------------------------------------------------------------------------

    async def user_by_email(self, email: str) -> UserRow | None:
        row = (
            await self.conn.execute(select(*_USER_COLUMNS).where(users.c.email == email))
        ).first()
        return UserRow(**row._mapping) if row else None

    async def user_by_id(self, user_id: uuid.UUID) -> UserRow | None:
        row = (await self.conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id))).first()
        return UserRow(**row._mapping) if row else None

    async def account(self, user_id: uuid.UUID) -> Account | None:
        """The account's public view."""
        row = (await self.conn.execute(_ACCOUNT_BY_ID.statement, {"user_id": user_id})).first()
        return _account_of(row._mapping) if row else None

    async def digest_recipients(self, *, after: uuid.UUID | None, limit: int) -> list[Account]:
        """Confirmed, enabled accounts that take the weekly digest, by id, from after `after`."""
        query = (
            select(*_ACCOUNT_BY_ID.statement.selected_columns)
            .where(
                users.c.weekly_digest.is_(True),
                users.c.email_verified_at.is_not(None),
                users.c.disabled_at.is_(None),
            )
            .order_by(users.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(users.c.id > after)
        return [_account_of(dict(row._mapping)) for row in await self.conn.execute(query)]

    async def enabled_ids(self, *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """The ids of accounts not disabled, in order, from after `after`."""
        query = select(users.c.id).where(users.c.disabled_at.is_(None)).order_by(users.c.id)
        if after is not None:
            query = query.where(users.c.id > after)
        return list((await self.conn.execute(query.limit(limit))).scalars())

    async def claim_email(
        self,
        *,
        user_id: uuid.UUID,
        email: str,
        password_hash: str,
        display_name: str,
        now: datetime,
        verified: bool = False,
        replace_unconfirmed: bool = False,
    ) -> uuid.UUID:
        """Insert account `user_id` unless `email` has one already; the id of the account
        that owns `email` afterwards (`user_id` if it was inserted). The same two statements
        run whether or not the address was taken.

        With `replace_unconfirmed` (a sign-up), an account whose address was never
        confirmed, which belongs to nobody yet, gets this password and display name (the
        last sign-up wins; confirming the address sets the password anyway). A confirmed
        account is never touched."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(users).values(
            id=user_id,
            email=email,
            password_hash=password_hash,
            display_name=display_name,
            email_verified_at=now if verified else None,
            tokens_valid_after=now,
            created_at=now,
            updated_at=now,
        )
        insert_if_new = (
            insert.on_conflict_do_update(
                index_elements=[users.c.email],
                set_={
                    "password_hash": insert.excluded.password_hash,
                    "display_name": insert.excluded.display_name,
                    "updated_at": insert.excluded.updated_at,
                },
                where=users.c.email_verified_at.is_(None),
            )
            if replace_unconfirmed
            else insert.on_conflict_do_nothing(index_elements=[users.c.email])
        )
        owner_of_email = select(users.c.id).where(users.c.email == email)
        # Twice at most: the owner found taken may delete their account before the read.
        for _ in range(2):
            await self.conn.execute(insert_if_new)
            owner: uuid.UUID | None = (await self.conn.execute(owner_of_email)).scalar_one_or_none()
            if owner is not None:
                return owner
        raise Conflict("the address changed hands meanwhile; try again")

    async def directory(self, *, after: str | None, limit: int, email_prefix: str) -> list[UserRow]:
        """Accounts ordered by address, after address `after`, those starting with
        `email_prefix` only."""
        query = select(*_USER_COLUMNS).order_by(users.c.email).limit(limit)
        if after is not None:
            query = query.where(users.c.email > after)
        if email_prefix:
            query = query.where(users.c.email.startswith(email_prefix, autoescape=True))
        return [UserRow(**row._mapping) for row in await self.conn.execute(query)]

    async def update_user(self, user_id: uuid.UUID, *, now: datetime, **values: Any) -> None:
        await self.conn.execute(
            update(users).where(users.c.id == user_id).values(updated_at=now, **values)
        )

    async def replace_password_hash(
        self, user_id: uuid.UUID, *, old: str, new: str, now: datetime
    ) -> bool:
        """Compare-and-set: store `new` only if the hash is still `old`."""
        result = await self.conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.password_hash == old)
            .values(password_hash=new, updated_at=now)
        )
        return result.rowcount == 1

    async def delete_user(self, user_id: uuid.UUID) -> None:
        await self.conn.execute(delete(users).where(users.c.id == user_id))

    async def delete_unverified(self, email: str) -> bool:
        """Remove the account of `email` if its address was never confirmed."""
        result = await self.conn.execute(
            delete(users).where(users.c.email == email, users.c.email_verified_at.is_(None))
        )
        return result.rowcount == 1

    # -- email tokens ------------------------------------------------------------------------

    async def insert_email_token(
        self,
        *,
        user_id: uuid.UUID,
        purpose: str,
        token_hash: str,
        now: datetime,
        expires_at: datetime,
        new_email: str | None = None,
    ) -> None:
        await self.conn.execute(
            insert(email_tokens).values(
                id=uuid.uuid4(),
                user_id=user_id,
                purpose=purpose,
                token_hash=token_hash,
                new_email=new_email,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def live_email_token(
        self, *, token_hash: str, purposes: Collection[str], now: datetime
    ) -> EmailTokenRow | None:
        """The token if it is live (known, unused, unexpired, of one of these purposes);
        not used up."""
        row = (
            await self.conn.execute(
                select(*_TOKEN_COLUMNS).where(
                    email_tokens.c.token_hash == token_hash,
                    email_tokens.c.purpose.in_(purposes),
                    email_tokens.c.used_at.is_(None),
                    email_tokens.c.expires_at > now,
                )
            )
        ).first()
        return EmailTokenRow(**row._mapping) if row else None

    async def consume_email_token(
        self, *, token_hash: str, purpose: str, now: datetime
    ) -> EmailTokenRow | None:
        """Mark a live token used and return it; None if unknown, used, expired or mismatched.

        One conditional UPDATE, so two concurrent uses of one token cannot both succeed.
        """
        result = await self.conn.execute(
            update(email_tokens)
            .where(
                email_tokens.c.token_hash == token_hash,
                email_tokens.c.purpose == purpose,
                email_tokens.c.used_at.is_(None),
                email_tokens.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(*_TOKEN_COLUMNS)
        )
        row = result.first()
        return EmailTokenRow(**row._mapping) if row else None

    async def delete_expired_email_tokens(self, now: datetime) -> int:
        """Delete the mailed links past their expiry, used or not: none can be used again."""
        result = await self.conn.execute(
            delete(email_tokens).where(email_tokens.c.expires_at <= now)
        )
        return result.rowcount

    async def revoke_email_tokens(self, user_id: uuid.UUID, purpose: str, now: datetime) -> None:
        """Earlier unused tokens of this purpose stop working when a new one is issued."""
        await self.conn.execute(
            update(email_tokens)
            .where(
                email_tokens.c.user_id == user_id,
                email_tokens.c.purpose == purpose,
                email_tokens.c.used_at.is_(None),
            )
            .values(used_at=now)
        )

    # -- audit -------------------------------------------------------------------------------

    async def insert_audit(
        self,
        *,
        user_id: uuid.UUID,
        kind: str,
        ip: str,
        user_agent: str,
        detail: dict[str, Any],
        now: datetime,
    ) -> None:
        await self.conn.execute(
            insert(audit_events).values(
                user_id=user_id,
                kind=kind,
                ip=ip[:64],
                user_agent=user_agent[:256],
                detail=msgspec.json.encode(detail).decode(),
                created_at=now,
            )
        )

    async def audit_page(
        self, user_id: uuid.UUID, *, before: int | None, limit: int
    ) -> list[AuditRow]:
        """Newest first, keyset on id."""
        query = (
            select(
                audit_events.c.id,
                audit_events.c.kind,
                audit_events.c.ip,
                audit_events.c.user_agent,
                audit_events.c.detail,
                audit_events.c.created_at,
            )
            .where(audit_events.c.user_id == user_id)
            .order_by(audit_events.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(audit_events.c.id < before)
        return [AuditRow(**r._mapping) for r in await self.conn.execute(query)]


async def hot_account(db: Database, user_id: uuid.UUID) -> Account | None:
    """`AccountRepository.account`, as a hot read on a connection of its own (the caller's
    account, read on every authenticated request)."""
    row = await _ACCOUNT_BY_ID.fetch(db, {"user_id": user_id})
    return _account_of(row) if row else None


async def hot_accounts(db: Database, user_ids: Collection[uuid.UUID]) -> list[Account]:
    """The public views of several accounts, in one hot read (ids with no account are left
    out)."""
    if not user_ids:
        return []
    rows = await _ACCOUNTS_BY_ID.fetch_all(db, {"user_ids": list(dict.fromkeys(user_ids))})
    return [_account_of(row) for row in rows]


def _account_of(row: Mapping[str, Any]) -> Account:
    """An `_ACCOUNT_BY_ID` row as the view (its role as the enum, not the stored text)."""
    return Account(**{**row, "platform_role": PLATFORM_ROLE_OF[row["platform_role"]]})
