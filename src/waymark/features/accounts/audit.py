"""The authentication audit log of each account: what happened, when, from where.

`record` writes in the caller's transaction, beside the change it describes; `record_alone`
opens one of its own, for events whose change happened elsewhere (a store, a token).
`detail` must never hold a secret or a token.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.messages import LoginFailure
from waymark.features.accounts.repository import AccountRepository
from waymark.features.accounts.schemas import AuditEvent
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.identity import ClientInfo


class AuditLog:
    def __init__(self, *, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def record(
        self,
        conn: AsyncConnection,
        account_id: uuid.UUID,
        kind: str,
        client: ClientInfo,
        **detail: Any,
    ) -> None:
        await AccountRepository(conn).insert_audit(
            user_id=account_id,
            kind=kind,
            ip=client.ip,
            user_agent=client.user_agent,
            detail=detail,
            now=self.clock.now(),
        )

    async def record_alone(
        self, account_id: uuid.UUID, kind: str, client: ClientInfo, **detail: Any
    ) -> None:
        async with self.db.transaction() as conn:
            await self.record(conn, account_id, kind, client, **detail)

    async def record_login_failure(self, conn: AsyncConnection, failure: LoginFailure) -> None:
        """The `accounts.login-failed` message, audited on the account if there is one."""
        user = await AccountRepository(conn).user_by_email(failure.email)
        if user is not None:
            client = ClientInfo(ip=failure.ip, user_agent=failure.user_agent)
            await self.record(conn, user.id, "login.failed", client)

    async def page(
        self, account_id: uuid.UUID, *, before: int | None, limit: int
    ) -> list[AuditEvent]:
        """Newest first, `limit` events older than event `before`."""
        async with self.db.read() as conn:
            rows = await AccountRepository(conn).audit_page(account_id, before=before, limit=limit)
        return [
            AuditEvent(
                id=r.id,
                kind=r.kind,
                ip=r.ip,
                user_agent=r.user_agent,
                detail=msgspec.json.decode(r.detail),
                created_at=r.created_at,
            )
            for r in rows
        ]
