"""Errors of webhooks, each with its stable code. Refusals by role are the policy's
(`kernel.authz.require`: 404 outside the team, 403 `forbidden` inside it)."""

from __future__ import annotations

from waymark.kernel.errors import WaymarkError


class UnsafeUrl(WaymarkError):
    """The URL is not https on port 443, carries credentials, or its host resolves to an
    address Waymark never sends to (SECURITY.md, SSRF)."""

    status = 422
    code = "unsafe-url"
    title = "Waymark does not send webhooks to this URL"


class TooManyWebhooks(WaymarkError):
    status = 409
    code = "too-many-webhooks"
    title = "The team has as many webhook endpoints as a team may"


class WebhookNotFound(WaymarkError):
    status = 404
    code = "webhook-not-found"
    title = "No such webhook endpoint in this team"


class DeliveryNotFound(WaymarkError):
    status = 404
    code = "delivery-not-found"
    title = "No such delivery of this webhook endpoint"


class WebhookDisabled(WaymarkError):
    status = 409
    code = "webhook-disabled"
    title = "The endpoint is disabled: turn it back on first"


class WebhookSecretUnreadable(WaymarkError):
    """The endpoint's sealed secret does not open: it was copied from another endpoint or
    sealed under another key. A rotation that keeps no previous secret replaces it."""

    status = 409
    code = "webhook-secret-unreadable"
    title = "The endpoint's signing secret cannot be read: rotate it without keeping it"
