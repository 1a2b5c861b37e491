"""The auth feature's outbox handlers: ending the sessions of an account that refuses them.

When an account is reset, deleted or disabled, its own transaction already refuses every
session and token issued before (the not-before moved, or the row is gone). Ending them in
the stores afterwards is tidying up, at least once: a store outage is retried by the relay,
and ending what is already gone changes nothing. After a reset it ends only what began
before the new not-before: the owner may have signed in again before the relay got here.
"""

from __future__ import annotations

import uuid

import msgspec

from waymark.features.accounts.messages import SIGNED_OUT_EVERYWHERE, SignedOutEverywhere
from waymark.features.auth.sessions import Sessions
from waymark.infra.outbox import HandlerRegistry, OutboxMessage, PermanentFailure


class SessionJobs:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def signed_out_everywhere(self, message: OutboxMessage) -> None:
        try:
            event = message.decode(SignedOutEverywhere)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PermanentFailure(f"bad {message.kind} payload: {exc}") from exc
        account_id = uuid.UUID(event.account_id)
        if event.not_before is None:
            await self.sessions.end_all(account_id)
        else:
            await self.sessions.end_begun_before(account_id, event.not_before)

    def register(self, handlers: HandlerRegistry) -> None:
        handlers.subscribe(SIGNED_OUT_EVERYWHERE, "auth.end-sessions", self.signed_out_everywhere)
