"""The teams feature's outbox handlers: a team whose owner's account was deleted gets a new
owner (or goes, if nobody is left).

The account's memberships went with it (cascade) in the deletion's transaction; on the domain
event `accounts.deleted`, in the relay's transaction (exactly once), every team left without
an owner is settled (`Lifecycle.settle_ownerless`).
"""

from __future__ import annotations

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.accounts.messages import ACCOUNT_DELETED, AccountDeleted
from waymark.features.teams.lifecycle import Lifecycle
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure

log = structlog.get_logger(__name__)


class TeamJobs:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    async def account_deleted(self, message: OutboxMessage, conn: AsyncConnection) -> None:
        try:
            event = message.decode(AccountDeleted)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
        settled = await self.lifecycle.settle_ownerless(conn)
        if settled:
            log.info(
                "teams_owners_settled",
                account_id=event.account_id,
                promoted=sum(1 for heir in settled.values() if heir is not None),
                deleted=sum(1 for heir in settled.values() if heir is None),
            )

    def register(self, handlers: HandlerRegistry) -> None:
        handlers.subscribe(
            ACCOUNT_DELETED, "teams.succession", self.account_deleted, transactional=True
        )
