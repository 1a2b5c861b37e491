"""The keys of the jobs a worker has run (`processed_jobs`): one row per job id, written in
the same transaction as a transactional handler's writes, so a job the broker delivers again
(its worker died before acking) finds its key and is not run a second time. A
non-transactional handler's key is written once it returned (its effect is outside the
database: it must be idempotent itself, keyed on the job's id). Rows older than the
broker could still redeliver are deleted by maintenance."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

processed_jobs = Table(
    "processed_jobs",
    metadata,
    Column("id", String(36), primary_key=True, comment="The job's id (its outbox message's)."),
    Column("kind", String(64), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=False),
)

Index("ix_processed_jobs_processed_at", processed_jobs.c.processed_at)
