"""Outgoing HTTP to URLs others chose, through one SSRF-safe fetcher (SECURITY.md)."""

from __future__ import annotations

from waymark.infra.fetch.fetcher import (
    Fetched,
    Fetcher,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    Resolver,
    StatusOf,
    system_resolver,
)

__all__ = [
    "FetchFailed",
    "FetchPolicy",
    "FetchRefused",
    "Fetched",
    "Fetcher",
    "Resolver",
    "StatusOf",
    "system_resolver",
]
