"""Each scheduled job's last and next slot for `/metrics`, read from the database when
scraped (the same whichever process answers)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from waymark.infra.scheduler.scheduler import Scheduler


class ScheduleMetrics:
    """A scrape source (`HttpMetrics.add_scrape_source`): `waymark_schedule_last_slot_seconds`
    and `waymark_schedule_next_slot_seconds` per job, as Unix seconds (0: never / none), so
    `time() - waymark_schedule_last_slot_seconds` alerts on a job that stopped running."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    async def __call__(self) -> list[Metric]:
        last = GaugeMetricFamily(
            "waymark_schedule_last_slot_seconds",
            "Unix time of the job's last slot enqueued or skipped; 0 if it never ran.",
            labels=["job"],
        )
        upcoming = GaugeMetricFamily(
            "waymark_schedule_next_slot_seconds",
            "Unix time of the job's next slot; 0 if its expression fires no more.",
            labels=["job"],
        )
        for status in await self.scheduler.status():
            last.add_metric([status.name], status.last_slot.timestamp() if status.last_slot else 0)
            upcoming.add_metric(
                [status.name], status.next_slot.timestamp() if status.next_slot else 0
            )
        return [last, upcoming]
