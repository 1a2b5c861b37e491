"""Jobs through RabbitMQ, beside their limit (issue 16, "Speed").

    .venv/bin/python -m bench.jobs [-n 10000] [-r 1] [--latency-jobs 500] [--profile production]
                                   [-o DIR]

`jobs-throughput`: `n` small jobs (the payload of a progress event, ~100 bytes) published and
consumed through RabbitMQ, twice on the same machine and broker:

- **app**: Waymark's path: `AmqpBroker.publish` (persistent messages, publisher confirms,
  the quorum queue) in batches of the relay's size, and `Worker` running a transactional
  no-op handler, so each job also writes its processed key in the database (the idempotency
  a real job pays for);
- **limit**: raw aio-pika on the same kind of quorum queue: persistent messages published in
  the same batches with confirms, consumed with the same prefetch and a manual ack each. No
  database, no envelope. This is issue 16's limit, and its target (0.5);
- **one-write limit**: the same, but every batch's publishes in one socket write and the acks
  of what one read of the socket delivered in one write (`amqp_frames`, the writes the app
  makes, which aio-pika has no call for). The app no longer pays a write per message, so
  this is the stricter limit: what a client on this event loop can do with no work at all.

Each reports jobs per second from the first publish to the last ack; the ratios app / limit
and app / one-write limit are the figures. With `-r N` the three run in turn N times, each
set under the same load (on a shared machine it changes from one minute to the next), and
the figures are the medians of the N ratios.

**latency**: `--latency-jobs` jobs, each written to the outbox in a transaction of its own,
`--spacing` seconds apart, relayed by `PublishingRelay` (woken by the commit) and run by the
`Worker` (the same batch size and wait as the throughput's, so a batch's wait shows here):
from the commit returning to the handler starting, p50 / p99.

Everything runs in this process on one event loop (relay, worker and the clock the latency
is read with), against a fresh database (`--profile production`: PostgreSQL, the default;
`embedded`: SQLite) migrated to head, and queues of the run's own, deleted at the end.
Writes `<output>/jobs-throughput.md` and `.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pamqp import commands as spec
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.config import RESULTS_DIR, RunSettings
from bench.machine import machine_facts
from bench.stack import database
from waymark.infra.broker.amqp import AmqpBroker
from waymark.infra.broker.amqp_frames import ack_all, publish_all
from waymark.infra.broker.relay import PublishingRelay
from waymark.infra.broker.worker import Worker
from waymark.infra.observability.logging import configure_logging
from waymark.infra.outbox import HandlerRegistry, Outbox, OutboxMessage
from waymark.infra.sql.database import Database
from waymark.infra.sql.migrations import upgrade
from waymark.kernel.broker import Job
from waymark.settings import BrokerSettings, LogSettings

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
KIND = "bench.job"
PAYLOAD = (
    '{"account_id":"01a2b3c4-d5e6-7f80-9102-a3b4c5d6e7f8","roadmap":"backend",'
    '"topic":"internet","status":"done"}'
)
BATCH = 20
"""The relay's default batch (`WAYMARK_OUTBOX__BATCH_SIZE`)."""
PREFETCH = 32
TARGET_RATIO = 0.5


@dataclass
class Throughput:
    side: str
    jobs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.jobs / self.seconds


async def app_throughput(db: Database, n: int, batch_size: int, batch_wait: float) -> Throughput:
    broker = AmqpBroker(AMQP_URL, queue=f"bench-jobs.{uuid.uuid4().hex[:8]}", prefetch=PREFETCH)
    await broker.setup()
    finished = asyncio.Event()
    count = 0

    async def no_op(message: OutboxMessage, conn: AsyncConnection) -> None:
        nonlocal count
        count += 1
        if count == n:
            finished.set()

    registry = HandlerRegistry()
    registry.register_transactional(KIND, no_op)
    worker = Worker(
        broker, registry, db, concurrency=PREFETCH, batch_size=batch_size, batch_wait=batch_wait
    )
    stop = asyncio.Event()
    now = time.time()
    jobs = [Job(id=str(uuid.uuid4()), kind=KIND, payload=PAYLOAD, created_at=now) for _ in range(n)]
    started = time.perf_counter()
    running = asyncio.create_task(worker.run(stop, poll=0.2))
    for start in range(0, n, BATCH):
        await broker.publish(jobs[start : start + BATCH])
    await finished.wait()
    seconds = time.perf_counter() - started
    stop.set()
    await running
    await broker.teardown()
    await broker.aclose()
    return Throughput("app", n, seconds)


@asynccontextmanager
async def raw_queue(prefix: str) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue]]:
    """A limit's quorum queue, of the run's own, on a connection of its own: a confirming
    channel to publish on, and the queue on a channel consuming with the app's prefetch.
    Deleted, and the connection closed, after."""
    name = f"{prefix}.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        publisher = await connection.channel(publisher_confirms=True)
        await publisher.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=PREFETCH)
        yield publisher, await consumer.get_queue(name)
        await publisher.queue_delete(name)
    finally:
        await connection.close()


async def timed(
    queue: AbstractQueue,
    on_message: Callable[[AbstractIncomingMessage], Awaitable[None]],
    publish: Callable[[int], Awaitable[object]],
    finished: asyncio.Event,
    n: int,
) -> float:
    """Seconds from consuming `queue` and publishing `n` jobs in the relay's batches
    (`publish(count)`) until `finished` is set."""
    started = time.perf_counter()
    tag = await queue.consume(on_message)
    for start in range(0, n, BATCH):
        await publish(min(BATCH, n - start))
    await finished.wait()
    seconds = time.perf_counter() - started
    await queue.cancel(tag)
    return seconds


async def limit_throughput(n: int) -> Throughput:
    finished = asyncio.Event()
    count = 0

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal count
        await message.ack()
        count += 1
        if count == n:
            finished.set()

    body = PAYLOAD.encode()
    async with raw_queue("bench-raw") as (publisher, queue):

        def publish(count: int) -> Awaitable[object]:
            return asyncio.gather(
                *(
                    publisher.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name,
                    )
                    for _ in range(count)
                )
            )

        seconds = await timed(queue, on_message, publish, finished, n)
    return Throughput("limit", n, seconds)


async def one_write_limit_throughput(n: int) -> Throughput:
    finished = asyncio.Event()
    count = 0
    unacked: list[int] = []
    flushing: set[asyncio.Task[None]] = set()

    async def flush(channel: aiormq.abc.AbstractChannel) -> None:
        nonlocal count
        tags = unacked[:]
        unacked.clear()
        await ack_all(channel, tags)
        count += len(tags)
        if count == n:
            finished.set()

    async def on_message(message: AbstractIncomingMessage) -> None:
        # The deliveries of one read of the socket each run before the next read: the
        # first schedules one write for the acks of all of them.
        assert message.delivery_tag is not None
        unacked.append(message.delivery_tag)
        if len(unacked) == 1:
            task = asyncio.get_running_loop().create_task(flush(message.channel))
            flushing.add(task)
            task.add_done_callback(flushing.discard)

    body = PAYLOAD.encode()
    async with raw_queue("bench-raw1") as (publisher, queue):
        channel = await publisher.get_underlay_channel()

        def publish(count: int) -> Awaitable[object]:
            return publish_all(
                channel,
                [
                    (body, spec.Basic.Properties(delivery_mode=2, message_id=uuid.uuid4().hex))
                    for _ in range(count)
                ],
                routing_key=queue.name,
            )

        seconds = await timed(queue, on_message, publish, finished, n)
    return Throughput("one-write limit", n, seconds)


async def latency(
    db: Database, jobs: int, spacing: float, batch_size: int, batch_wait: float
) -> list[float]:
    """Seconds from each job's commit to its handler starting."""
    broker = AmqpBroker(AMQP_URL, queue=f"bench-lat.{uuid.uuid4().hex[:8]}", prefetch=PREFETCH)
    await broker.setup()
    committed: dict[str, float] = {}
    waited: list[float] = []
    finished = asyncio.Event()

    async def record(message: OutboxMessage, conn: AsyncConnection) -> None:
        waited.append(time.perf_counter() - committed[message.id])
        if len(waited) == jobs:
            finished.set()

    registry = HandlerRegistry()
    registry.register_transactional(KIND, record)
    outbox = Outbox(registry)
    relay = PublishingRelay(db, registry, outbox=outbox, broker=broker)
    worker = Worker(
        broker, registry, db, concurrency=PREFETCH, batch_size=batch_size, batch_wait=batch_wait
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(relay.run_forever(stop, poll_interval=1.0)),
        asyncio.create_task(worker.run(stop, poll=0.2)),
    ]
    for _ in range(jobs):
        async with db.transaction() as conn:
            job_id = await outbox.enqueue(conn, KIND, json.loads(PAYLOAD))
        assert job_id is not None
        committed[job_id] = time.perf_counter()  # the commit has returned
        await asyncio.sleep(spacing)
    await asyncio.wait_for(finished.wait(), 60)
    stop.set()
    await asyncio.gather(*tasks)
    await broker.teardown()
    await broker.aclose()
    return waited


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Database(url)
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(args.repeat):  # app and limit in turn, each pair under the same load
            app = await app_throughput(db, args.jobs, args.batch_size, args.batch_wait)
            limit = await limit_throughput(args.jobs)
            strict = await one_write_limit_throughput(args.jobs)
            runs.append(
                {
                    "app": {**asdict(app), "per_second": app.per_second},
                    "limit": {**asdict(limit), "per_second": limit.per_second},
                    "one_write_limit": {**asdict(strict), "per_second": strict.per_second},
                    "ratio": app.per_second / limit.per_second,
                    "ratio_one_write": app.per_second / strict.per_second,
                }
            )
        waited = await latency(
            db, args.latency_jobs, args.spacing, args.batch_size, args.batch_wait
        )
    finally:
        await db.dispose()
    return {
        "runs": runs,
        "ratio": statistics.median(run["ratio"] for run in runs),
        "ratio_one_write": statistics.median(run["ratio_one_write"] for run in runs),
        "latency_ms": {
            "jobs": len(waited),
            "p50": 1000 * statistics.median(waited),
            "p99": 1000 * percentile(waited, 0.99),
            "max": 1000 * max(waited),
        },
    }


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    lat = result["latency_ms"]
    rows = []
    for number, run in enumerate(result["runs"], 1):
        app, limit, strict = run["app"], run["limit"], run["one_write_limit"]
        rows += [
            f"| {number} | app (AmqpBroker + Worker, processed keys) | {app['per_second']:,.0f} "
            f"| {app['seconds']:.2f} | | |",
            f"| {number} | limit (raw aio-pika) | {limit['per_second']:,.0f} "
            f"| {limit['seconds']:.2f} | **{run['ratio']:.2f}** | |",
            f"| {number} | one-write limit (raw, `amqp_frames`) | {strict['per_second']:,.0f} "
            f"| {strict['seconds']:.2f} | | **{run['ratio_one_write']:.2f}** |",
        ]
    return "\n".join(
        [
            "# jobs-throughput",
            "",
            f"{args.jobs:,} jobs through RabbitMQ ({args.profile} database), app and limit in "
            f"turn {args.repeat} time(s), worker batch size {args.batch_size} (wait "
            f"{args.batch_wait * 1000:g} ms); latency over "
            f"{lat['jobs']:,} jobs {args.spacing * 1000:g} ms apart.",
            "",
            "| run | | jobs/s | seconds | app / limit | app / one-write limit |",
            "|---:|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"ratio app / limit (median of the runs): **{result['ratio']:.2f}** "
            f"(target >= {TARGET_RATIO}); app / one-write limit: "
            f"**{result['ratio_one_write']:.2f}**",
            "",
            f"commit -> job start: p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, "
            f"max {lat['max']:.1f} ms",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs", description=__doc__)
    parser.add_argument("-n", "--jobs", type=int, default=10_000)
    parser.add_argument(
        "-r", "--repeat", type=int, default=1, help="runs of app then limit (the median ratio)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=BrokerSettings().batch_size,
        help="the worker's WAYMARK_BROKER__BATCH_SIZE (default: the setting's)",
    )
    parser.add_argument(
        "--batch-wait",
        type=float,
        default=BrokerSettings().batch_wait,
        help="the worker's WAYMARK_BROKER__BATCH_WAIT, seconds (default: the setting's)",
    )
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--spacing", type=float, default=0.005, help="seconds between commits")
    parser.add_argument("--profile", choices=["production", "embedded"], default="production")
    parser.add_argument("-o", "--output", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    configure_logging(LogSettings(level="warning"))
    settings = RunSettings(database_name="waymark_bench_jobs")
    with (
        tempfile.TemporaryDirectory() as workdir,
        database(settings, args.profile, Path(workdir)) as db,
    ):
        upgrade(db.url)
        result = asyncio.run(measure(db.url, args))
    result["machine"] = machine_facts()
    result["args"] = {k: str(v) for k, v in vars(args).items()}
    text = report(result, args)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "jobs-throughput.md").write_text(text)
    (args.output / "jobs-throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
