"""Caps and rate limits of webhooks (see `waymark.kernel.throttle`). Creating an endpoint is
limited per team and per account (SECURITY.md: webhook creation), checked after the caller's
role, so nobody outside a team can spend its allowance."""

from __future__ import annotations

from waymark.kernel.throttle import Rule

MAX_ENDPOINTS = 10
"""Endpoints of one team."""
EXCERPT_BYTES = 1024
"""What is kept of an endpoint's answer."""
LOG_LIMIT = 50
"""Deliveries shown by default (100 at most)."""

CREATE_TEAM = Rule("webhook-create-team", 10, 3600)
CREATE_ACCOUNT = Rule("webhook-create-account", 20, 3600)
