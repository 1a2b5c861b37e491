"""A team's endpoints, for its admins (`team.webhooks.manage`): create (the secret shown
once), list, read, change, delete, rotate the secret, send a test ping, read the log of
deliveries, and send one again. Each reads the caller's role in the team in its own
transaction (`Teams.asking.require`: 404 outside the team, 403 below admin)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.webhooks.delivering import new_delivery
from waymark.features.webhooks.errors import (
    DeliveryNotFound,
    TooManyWebhooks,
    UnsafeUrl,
    WebhookDisabled,
    WebhookNotFound,
    WebhookSecretUnreadable,
)
from waymark.features.webhooks.limits import CREATE_ACCOUNT, CREATE_TEAM, LOG_LIMIT, MAX_ENDPOINTS
from waymark.features.webhooks.repository import EndpointRow, WebhookRepository
from waymark.features.webhooks.schemas import (
    PING,
    Delivery,
    Rotation,
    Webhook,
    WebhookCreate,
    WebhookPatch,
    WebhookSecret,
)
from waymark.features.webhooks.signing import new_secret, seal, unseal
from waymark.features.webhooks.use_cases import WebhookTools, delivery_view, webhook_view
from waymark.infra.fetch import FetchFailed, FetchRefused
from waymark.infra.security.secret_box import SecretUnreadable
from waymark.kernel.authz import Action
from waymark.kernel.identity import Account

MANAGE = Action.WEBHOOKS_MANAGE
TURNED_OFF = "turned off by an admin"


@dataclass(kw_only=True, eq=False)
class Endpoints(WebhookTools):
    async def create(
        self, account: Account, team_id: uuid.UUID, data: WebhookCreate
    ) -> WebhookSecret:
        async with self.db.read() as conn:
            await self._require(conn, account, team_id)
        await self.throttle.check((CREATE_TEAM, str(team_id)), (CREATE_ACCOUNT, str(account.id)))
        await self._check_url(data.url)
        now = self.clock.now()
        secret = new_secret()
        webhook_id = uuid.uuid4()
        values = {
            "id": webhook_id,
            "team_id": team_id,
            "url": data.url,
            "description": data.description,
            "events": msgspec.json.encode(sorted(set(data.events))).decode(),
            "secret": seal(self.box, webhook_id, "secret", secret),
            "enabled": True,
            "failures": 0,
            "created_by": account.id,
            "created_at": now,
            "updated_at": now,
        }
        async with self.db.transaction() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            if await repo.count_endpoints(team_id) >= MAX_ENDPOINTS:
                raise TooManyWebhooks()
            await repo.insert_endpoint(values)
            row = await self._endpoint(repo, team_id, webhook_id)
        return WebhookSecret(webhook=webhook_view(row), secret=secret)

    async def of_team(self, account: Account, team_id: uuid.UUID) -> list[Webhook]:
        async with self.db.read() as conn:
            await self._require(conn, account, team_id)
            rows = await WebhookRepository(conn).endpoints(team_id)
        return [webhook_view(row) for row in rows]

    async def get(self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
        async with self.db.read() as conn:
            await self._require(conn, account, team_id)
            row = await self._endpoint(WebhookRepository(conn), team_id, webhook_id)
        return webhook_view(row)

    async def update(
        self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID, data: WebhookPatch
    ) -> Webhook:
        if isinstance(data.url, str):
            async with self.db.read() as conn:
                await self._require(conn, account, team_id)
            await self._check_url(data.url)
        now = self.clock.now()
        changes: dict[str, object] = {"updated_at": now}
        if isinstance(data.url, str):
            changes["url"] = data.url
        if isinstance(data.description, str):
            changes["description"] = data.description
        if isinstance(data.events, list):
            changes["events"] = msgspec.json.encode(sorted(set(data.events))).decode()
        async with self.db.transaction() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            row = await self._endpoint(repo, team_id, webhook_id)
            if data.enabled is True and not row.enabled:
                changes.update(enabled=True, failures=0, disabled_at=None, disabled_reason=None)
            elif data.enabled is False and row.enabled:
                changes.update(enabled=False, disabled_at=now, disabled_reason=TURNED_OFF)
            await repo.update_endpoint(webhook_id, **changes)
            row = await self._endpoint(repo, team_id, webhook_id)
        return webhook_view(row)

    async def delete(self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
        async with self.db.transaction() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            await self._endpoint(repo, team_id, webhook_id)
            await repo.delete_endpoint(webhook_id)

    async def rotate(
        self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID, data: Rotation
    ) -> WebhookSecret:
        """A new secret; the previous one still signs for `keep_previous_hours` (beside it)."""
        now = self.clock.now()
        secret = new_secret()
        keep = data.keep_previous_hours
        async with self.db.transaction() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            row = await self._endpoint(repo, team_id, webhook_id)
            await repo.update_endpoint(
                webhook_id,
                secret=seal(self.box, webhook_id, "secret", secret),
                previous_secret=self._kept(row) if keep else None,
                previous_expires_at=now + timedelta(hours=keep) if keep else None,
                updated_at=now,
            )
            row = await self._endpoint(repo, team_id, webhook_id)
        return WebhookSecret(webhook=webhook_view(row), secret=secret)

    def _kept(self, row: EndpointRow) -> bytes:
        """The current secret, sealed again as the previous one (bound to its new column)."""
        try:
            current = unseal(self.box, row.id, "secret", row.secret)
        except SecretUnreadable:
            raise WebhookSecretUnreadable() from None
        return seal(self.box, row.id, "previous_secret", current)

    async def ping(self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID) -> Delivery:
        """Queue a `ping` to the endpoint (sent after this commits, logged like any other)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            row = self._enabled(await self._endpoint(repo, team_id, webhook_id))
            event_id = uuid.uuid4()
            data = {"webhook_id": str(row.id)}
            delivery = await new_delivery(
                self.outbox, conn, row, event=PING, event_id=event_id, data=data, now=now
            )
        return delivery_view(delivery)

    async def deliveries(
        self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID, limit: int = LOG_LIMIT
    ) -> list[Delivery]:
        """The endpoint's newest deliveries first."""
        async with self.db.read() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            await self._endpoint(repo, team_id, webhook_id)
            rows = await repo.deliveries(webhook_id, limit)
        return [delivery_view(row) for row in rows]

    async def redeliver(
        self, account: Account, team_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Delivery:
        """Send a logged delivery again: the same event and body, a new delivery (and a new
        signature, with today's time and secrets)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await self._require(conn, account, team_id)
            repo = WebhookRepository(conn)
            row = self._enabled(await self._endpoint(repo, team_id, webhook_id))
            original = await repo.delivery(delivery_id, webhook_id)
            if original is None:
                raise DeliveryNotFound()
            delivery = await new_delivery(
                self.outbox,
                conn,
                row,
                event=original.event,
                event_id=original.event_id,
                body=original.body,
                redelivery_of=original.id,
                now=now,
            )
        return delivery_view(delivery)

    # -- helpers -------------------------------------------------------------------------------

    async def _require(self, conn: AsyncConnection, account: Account, team_id: uuid.UUID) -> None:
        await self.teams.asking.require(conn, account, team_id, MANAGE)

    @staticmethod
    async def _endpoint(
        repo: WebhookRepository, team_id: uuid.UUID, webhook_id: uuid.UUID
    ) -> EndpointRow:
        row = await repo.endpoint(webhook_id, team_id)
        if row is None:
            raise WebhookNotFound()
        return row

    @staticmethod
    def _enabled(row: EndpointRow) -> EndpointRow:
        if not row.enabled:
            raise WebhookDisabled()
        return row

    async def _check_url(self, url: str) -> None:
        try:
            await self.fetcher.preflight(url)
        except FetchFailed:
            raise UnsafeUrl(detail="The URL's host does not resolve") from None
        except FetchRefused:
            # Which address was refused stays unsaid: no probing of internal names.
            raise UnsafeUrl() from None
