"""Outbox depth and age for `/metrics`, read from the database when scraped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from waymark.infra.outbox.outbox import Outbox
from waymark.infra.outbox.tables import DEAD, PENDING
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow


class OutboxBacklog:
    """A scrape source (`HttpMetrics.add_scrape_source`): `waymark_outbox_messages{state}` for
    pending and dead messages, and `waymark_outbox_oldest_pending_age_seconds`.

    One grouped query over the pending and dead rows, which the state index finds without
    reading delivered ones. It is the database's truth, the same whichever worker answers.
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self._clock = clock

    async def __call__(self) -> list[Metric]:
        async with self.db.read() as conn:
            tally = await Outbox.tally(conn, states=(PENDING, DEAD))
        messages = GaugeMetricFamily(
            "waymark_outbox_messages",
            "Outbox messages waiting to be delivered (pending) or given up on (dead).",
            labels=["state"],
        )
        for state in (PENDING, DEAD):
            messages.add_metric([state], tally.count(state))
        oldest = tally.oldest(PENDING)
        age = 0.0 if oldest is None else max(0.0, (self._clock() - oldest).total_seconds())
        return [
            messages,
            GaugeMetricFamily(
                "waymark_outbox_oldest_pending_age_seconds",
                "Seconds since the oldest pending outbox message was created (retries "
                "included); 0 when none is pending.",
                value=age,
            ),
        ]
