"""End-to-end tests: real `waymark serve` processes and real clients. The live tests'
processes sharing one database and one Redis (`two_servers`) are fixtures here."""

from __future__ import annotations

from tests.contract.redis_server import redis_url
from tests.e2e.live_support import two_servers

__all__ = ["redis_url", "two_servers"]
