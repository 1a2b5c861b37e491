"""The notes feature's outbox handlers: erasing a deleted account's notes and resources.

They live in the document store, which the account's deletion cannot cascade into (in
production it is another database), so they go on the domain event `accounts.deleted`, at
least once: a store outage is retried by the relay, and erasing what is gone changes
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import msgspec
import structlog

from waymark.features.accounts.messages import ACCOUNT_DELETED, AccountDeleted
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure

log = structlog.get_logger(__name__)


class NotesJobs:
    def __init__(self, *, erase: Callable[[uuid.UUID], Awaitable[int]]) -> None:
        self.erase = erase

    async def account_deleted(self, message: OutboxMessage) -> None:
        try:
            event = message.decode(AccountDeleted)
            account_id = uuid.UUID(event.account_id)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
        erased = await self.erase(account_id)
        log.info("notes_erased", account_id=str(account_id), documents=erased)

    def register(self, handlers: HandlerRegistry) -> None:
        handlers.subscribe(ACCOUNT_DELETED, "notes.erase", self.account_deleted)
