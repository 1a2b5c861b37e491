"""Settings of what Waymark sends to URLs others chose: the SSRF-safe fetcher's policy
(`WAYMARK_FETCH__*`) and webhooks (`WAYMARK_WEBHOOKS__*`)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field, field_validator


class FetchSettings(BaseModel):
    """Requests to URLs others chose (webhook endpoints): the SSRF-safe fetcher's policy."""

    allow_http: bool = Field(
        default=False,
        description="Let plain http through too (development and tests; production refuses).",
    )
    allowed_networks: list[str] = Field(
        default=[],
        description="Networks (CIDR) let through despite the SSRF deny list, on any port: a "
        "test's own receiver on 127.0.0.1. Production refuses to start with any.",
    )
    timeout: float = Field(default=8.0, gt=0, le=30, description="Seconds per request.")
    max_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="Answer size cap.")
    max_redirects: int = Field(default=3, ge=0, le=3, description="Redirects followed.")

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)  # raises on a bad one
        return values


class WebhookSettings(BaseModel):
    disable_after_failures: int = Field(
        default=20,
        ge=1,
        description="Failed delivery attempts in a row (retries included) that turn an "
        "endpoint off and mail its team's admins.",
    )
    log_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a finished delivery stays in an endpoint's log before maintenance "
        "deletes it.",
    )
