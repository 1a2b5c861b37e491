"""Background jobs on a broker (`WAYMARK_BROKER_URL`): the adapters of `kernel.broker.Broker`,
and the worker that runs the outbox's handlers on the jobs it receives (docs/jobs.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

from waymark.kernel.broker import Broker
from waymark.settings import Settings


def build_broker(settings: Settings) -> Broker | None:
    """The broker `settings.broker_url` names; None when unset (jobs run in the relay).
    Opens no connection: the adapters connect on first use."""
    url = settings.broker_url
    if not url:
        return None
    options = settings.broker
    scheme = urlsplit(url).scheme
    if scheme in ("amqp", "amqps"):
        from waymark.infra.broker.amqp import AmqpBroker

        return AmqpBroker(
            url,
            queue=options.queue,
            prefetch=options.prefetch,
            delivery_limit=options.delivery_limit,
        )
    if scheme in ("redis", "rediss"):
        from waymark.infra.broker.redis import RedisBroker
        from waymark.infra.redis import create_redis

        return RedisBroker(
            create_redis(url, settings.redis),
            name=f"{settings.redis.key_prefix}{options.queue}",
            visibility_timeout=options.visibility_timeout,
            delivery_limit=options.delivery_limit,
            owns_client=True,
        )
    from waymark.infra.broker.sqs import SqsBroker

    return SqsBroker(
        url,
        name=options.queue,
        visibility_timeout=options.visibility_timeout,
        delivery_limit=options.delivery_limit,
    )
