"""WebSocket tickets in Redis: `{p}lt:{ticket_hash}`, the ticket's JSON, with a TTL a little
past its expiry. `GETDEL` takes it: of two processes redeeming one ticket, one gets it."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from waymark.infra.redis.client import DEFAULT_PREFIX
from waymark.infra.redis.lua import life_ms
from waymark.kernel.live import LiveTicket

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(LiveTicket).decode


class RedisLiveTickets:
    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = f"{prefix}lt:"

    async def put(self, ticket_hash: str, ticket: LiveTicket) -> None:
        ttl = life_ms(ticket.expires_at - ticket.issued_at)
        await self._client.set(self._prefix + ticket_hash, _encode(ticket), px=ttl)

    async def take(self, ticket_hash: str, *, now: float) -> LiveTicket | None:
        raw = await self._client.getdel(self._prefix + ticket_hash)
        if raw is None:
            return None
        ticket = _decode(raw)
        # Expiry by the caller's clock, like the SQL store; the TTL only collects the dead.
        return ticket if now <= ticket.expires_at else None
