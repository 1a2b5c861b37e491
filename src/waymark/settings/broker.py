"""Settings of background jobs on a broker (`WAYMARK_BROKER_URL`) and `waymark worker`."""

from __future__ import annotations

from pydantic import BaseModel, Field

BROKER_SCHEMES = ("amqp", "amqps", "redis", "rediss", "sqs")


class BrokerSettings(BaseModel):
    queue: str = Field(
        default="waymark.jobs",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The jobs queue's name (RabbitMQ); the key and queue prefix for Redis and "
        "SQS is derived from it. Its dead letters are in `<queue>.dead`.",
    )
    prefetch: int = Field(
        default=10,
        ge=1,
        description="Jobs a worker holds and runs at once; a transactional job holds a "
        "database connection while it runs, so keep it within WAYMARK_DB__POOL_SIZE.",
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        description="Transactional jobs a worker runs in one transaction at most (their "
        "processed keys, their effects, one commit, then their acks): fewer round trips per "
        "job. A failing job rolls back only itself (the others run again); 1 runs each alone. "
        "Batched handlers run one after the other: transactional handlers must be "
        "database-bound (one that waits on the network holds up its batch).",
    )
    batch_wait: float = Field(
        default=0.01,
        ge=0,
        description="Seconds a busy worker (a transaction running) lets a batch short of "
        "WAYMARK_BROKER__BATCH_SIZE fill before it starts it anyway; an idle worker starts a "
        "job at once. With batches of 1 nothing waits.",
    )
    visibility_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Redis and SQS: seconds before a job a worker took and never settled (it "
        "died) is delivered again. Longer than any job's time limit.",
    )
    delivery_limit: int = Field(
        default=20,
        ge=2,
        description="Deliveries that end without a settlement (the job kills its workers) "
        "before the job is dead-lettered (by RabbitMQ and SQS themselves; for Redis by the "
        "worker that would claim it).",
    )
    shutdown_grace: float = Field(
        default=20.0,
        ge=0,
        description="Seconds a worker stopped with SIGTERM lets its running jobs finish; "
        "those still running then, and every job not started, go back to the broker.",
    )
