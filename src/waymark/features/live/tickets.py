"""WebSocket tickets: a browser's `WebSocket` cannot send a header, so a client asks for a
ticket over HTTP (as itself: bearer, or session cookie and CSRF token) and hands it to the
WebSocket in its URL. A ticket is 256 random bits, kept only as its hash, good for one
connection within `WAYMARK_LIVE__TICKET_SECONDS`; redeeming it reads the account again, so
one deleted, disabled or signed out everywhere since cannot connect with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from waymark.features.live.errors import TicketRefused
from waymark.features.live.limits import issue_ticket
from waymark.kernel.clock import Clock
from waymark.kernel.identity import Account, hash_token, new_token
from waymark.kernel.live import LiveTicket, LiveTicketStore
from waymark.kernel.throttle import Throttle

MAX_TICKET_LENGTH = 128
ActiveAccount = Callable[[uuid.UUID], Awaitable[Account | None]]
"""The account if it exists and is not disabled (accounts' `Profiles.active`)."""


class Tickets:
    def __init__(
        self,
        *,
        store: LiveTicketStore,
        active: ActiveAccount,
        throttle: Throttle,
        clock: Clock,
        lifetime: float,
        per_minute: int = 60,
    ) -> None:
        self.store = store
        self.active = active
        self.throttle = throttle
        self.clock = clock
        self.lifetime = lifetime
        self.rule = issue_ticket(per_minute)

    async def issue(self, account: Account) -> str:
        """A new ticket for `account` (429 past `tickets_per_minute`)."""
        await self.throttle.check((self.rule, str(account.id)))
        ticket = new_token()
        now = self.clock.time()
        grant = LiveTicket(
            account_id=str(account.id), issued_at=now, expires_at=now + self.lifetime
        )
        await self.store.put(hash_token(ticket), grant)
        return ticket

    async def redeem(self, ticket: str) -> Account:
        """The account `ticket` was issued to, as it is now; the ticket is used up. 401
        `invalid-ticket` otherwise."""
        if not ticket or len(ticket) > MAX_TICKET_LENGTH:
            raise TicketRefused()
        grant = await self.store.take(hash_token(ticket), now=self.clock.time())
        if grant is None:
            raise TicketRefused()
        account = await self.active(uuid.UUID(grant.account_id))
        if account is None:
            raise TicketRefused()
        # Signed out everywhere since: refused, like a token issued before (whole seconds).
        if int(grant.issued_at) < int(account.tokens_valid_after.timestamp()):
            raise TicketRefused()
        return account
