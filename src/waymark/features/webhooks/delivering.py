"""Sending events to endpoints: the fan-out of a domain event to the endpoints that take it,
and the delivery itself (signed, through the SSRF-safe fetcher, logged, retried).

- `fan_out` runs in the relay's transaction (a transactional handler of each event): for
  each enabled endpoint of the teams the event is about that takes it, a delivery row and its
  `webhooks.deliver` job, which the relay runs once that transaction has committed.
- `deliver` (the job; it talks to the outside, so it runs at least once) posts the logged
  body with a fresh `Waymark-Signature`, records the attempt (status, latency, a capped
  excerpt of the answer) and raises on a failure, so that the outbox retries it with
  backoff and jitter. Every failed attempt counts against the endpoint; `disable_after` in
  a row turn it off, and its team's admins are mailed, in that same transaction. A success
  resets the count. The delivery id (`Waymark-Delivery`) is the same on every retry, for the
  receiver to drop duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.webhooks.limits import EXCERPT_BYTES
from waymark.features.webhooks.messages import mail_disabled, queue_delivery
from waymark.features.webhooks.repository import DeliveryRow, EndpointRow, WebhookRepository
from waymark.features.webhooks.signing import SIGNATURE_HEADER, signature_header
from waymark.features.webhooks.use_cases import WebhookTools
from waymark.infra.fetch import Fetched, FetchFailed, FetchRefused
from waymark.infra.outbox import Outbox
from waymark.infra.security.secret_box import SecretUnreadable

log = structlog.get_logger(__name__)
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
USER_AGENT = "Waymark-Webhooks/1"
REFUSED = "refused: the URL or an address of its host is one Waymark does not send to"
UNREADABLE = (
    "the signing secret cannot be read (copied from another endpoint, or sealed under "
    "another key): rotate it without keeping the previous one"
)


class DeliveryFailed(Exception):
    """An attempt failed: the outbox tries again later."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """The body of every delivery."""

    id: str
    """The event's id: the same in a redelivery."""
    type: str
    created_at: datetime
    team_id: str
    data: dict[str, Any]


async def new_delivery(
    outbox: Outbox,
    conn: AsyncConnection,
    endpoint: EndpointRow,
    *,
    event: str,
    event_id: uuid.UUID,
    now: datetime,
    data: dict[str, Any] | None = None,
    body: str | None = None,
    redelivery_of: uuid.UUID | None = None,
) -> DeliveryRow:
    """Log a delivery of `event` to `endpoint` and queue its job, in `conn`'s transaction.
    The body is `body` as it was (a redelivery) or an `Envelope` of `data`."""
    if body is None:
        envelope = Envelope(
            id=str(event_id),
            type=event,
            created_at=now,
            team_id=str(endpoint.team_id),
            data=data or {},
        )
        body = msgspec.json.encode(envelope).decode()
    row = DeliveryRow(
        id=uuid.uuid4(),
        endpoint_id=endpoint.id,
        event_id=event_id,
        event=event,
        body=body,
        state=PENDING,
        attempts=0,
        response_status=None,
        response_excerpt=None,
        latency_ms=None,
        error=None,
        redelivery_of=redelivery_of,
        created_at=now,
        attempted_at=None,
    )
    await WebhookRepository(conn).insert_delivery(msgspec.structs.asdict(row))
    await queue_delivery(outbox, conn, str(row.id))
    return row


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    status: int | None = None
    excerpt: str | None = None
    error: str | None = None
    latency_ms: int


@dataclass(kw_only=True, eq=False)
class Delivering(WebhookTools):
    async def fan_out(
        self,
        conn: AsyncConnection,
        event: str,
        event_id: uuid.UUID,
        team_ids: list[uuid.UUID],
        data: dict[str, Any],
    ) -> int:
        """A delivery of `event` to every enabled endpoint of `team_ids` that takes it."""
        endpoints = await WebhookRepository(conn).subscribed(team_ids, event)
        now = self.clock.now()
        for endpoint in endpoints:
            await new_delivery(
                self.outbox, conn, endpoint, event=event, event_id=event_id, data=data, now=now
            )
        return len(endpoints)

    async def delete_old(self, now: datetime) -> int:
        """Housekeeping: finished deliveries older than the log's retention."""
        async with self.db.transaction() as conn:
            return await WebhookRepository(conn).delete_deliveries_before(now - self.retention)

    async def deliver(self, delivery_id: uuid.UUID) -> None:
        async with self.db.read() as conn:
            repo = WebhookRepository(conn)
            delivery = await repo.delivery(delivery_id)
            endpoint = None if delivery is None else await repo.endpoint(delivery.endpoint_id)
        if delivery is None or endpoint is None or delivery.state == SUCCEEDED:
            return  # deleted since, or a repeat of a job that already succeeded
        if not endpoint.enabled:
            async with self.db.transaction() as conn:
                await WebhookRepository(conn).update_delivery(
                    delivery_id, state=FAILED, error="the endpoint is disabled"
                )
            return
        outcome = await self._attempt(endpoint, delivery)
        disabled = await self._record(endpoint, delivery, outcome)
        if not outcome.ok and not disabled:
            raise DeliveryFailed(outcome.error or "failed")

    async def _attempt(self, endpoint: EndpointRow, delivery: DeliveryRow) -> Outcome:
        body = delivery.body.encode()
        timestamp = int(self.clock.time())
        try:
            signing_secrets = self.signing_secrets(endpoint)
        except SecretUnreadable:
            log.warning("webhook_secret_unreadable", webhook_id=str(endpoint.id))
            return Outcome(ok=False, error=UNREADABLE, latency_ms=0)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Waymark-Event": delivery.event,
            "Waymark-Delivery": str(delivery.id),
            SIGNATURE_HEADER: signature_header(signing_secrets, timestamp, body),
        }
        started = self.clock.time()
        try:
            fetched = await self.fetcher.fetch(
                "POST", endpoint.url, headers=headers, content=body, follow_redirects=False
            )
        except FetchRefused as exc:
            # Which address was refused stays in the server's log, not the team's: no
            # probing of internal names through the delivery log.
            log.warning("webhook_refused", webhook_id=str(endpoint.id), reason=str(exc))
            return Outcome(ok=False, error=REFUSED, latency_ms=0)
        except FetchFailed as exc:
            return Outcome(
                ok=False, error=str(exc)[:400], latency_ms=_ms(self.clock.time() - started)
            )
        return _outcome(fetched)

    async def _record(self, endpoint: EndpointRow, delivery: DeliveryRow, outcome: Outcome) -> bool:
        """Log the attempt; count a failure against the endpoint, and turn it off (mailing
        its team's admins) at `disable_after` in a row. True if it was turned off now."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repo = WebhookRepository(conn)
            await repo.update_delivery(
                delivery.id,
                state=SUCCEEDED if outcome.ok else FAILED,
                attempts=delivery.attempts + 1,
                response_status=outcome.status,
                response_excerpt=outcome.excerpt,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                attempted_at=now,
            )
            if outcome.ok:
                await repo.update_endpoint(endpoint.id, failures=0)
                return False
            failures = await repo.failed(endpoint.id)
            if failures < self.disable_after:
                return False
            current = await repo.endpoint(endpoint.id)
            if current is None or not current.enabled:
                return True
            reason = (outcome.error or "failed")[:200]
            await repo.update_endpoint(
                endpoint.id, enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now
            )
            await self._tell_admins(conn, endpoint, failures, reason)
        log.warning("webhook_disabled", webhook_id=str(endpoint.id), failures=failures)
        return True

    async def _tell_admins(
        self, conn: AsyncConnection, endpoint: EndpointRow, failures: int, reason: str
    ) -> None:
        admins = await self.teams.asking.admins(conn, endpoint.team_id)
        if admins is None:
            return
        link = f"{self.public_url}/teams/{endpoint.team_id}/webhooks"
        for address in admins.addresses:
            await mail_disabled(
                self.outbox,
                conn,
                to=address,
                team=admins.team.name,
                url=endpoint.url,
                failures=failures,
                reason=reason,
                link=link,
            )


def _outcome(fetched: Fetched) -> Outcome:
    ok = 200 <= fetched.status < 300
    excerpt = fetched.body[:EXCERPT_BYTES].decode("utf-8", "replace")[:EXCERPT_BYTES]
    return Outcome(
        ok=ok,
        status=fetched.status,
        excerpt=excerpt,
        error=None if ok else f"answered {fetched.status}",
        latency_ms=_ms(fetched.elapsed),
    )


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
