"""Contract tests: one suite per port, run against every adapter.

Each suite is a base class whose tests use one adapter fixture; a subclass per adapter
provides it. The SQL subclasses use the `db` fixture, so they run on SQLite and PostgreSQL;
the Redis subclasses run on the test Redis under a key prefix of their own.
"""

from __future__ import annotations

from tests.contract.redis_server import redis_client, redis_prefix, redis_url

__all__ = ["redis_client", "redis_prefix", "redis_url"]
