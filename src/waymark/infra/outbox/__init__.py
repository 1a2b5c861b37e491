"""The transactional outbox: mail now, jobs and domain events later. See `tables.py`."""

from __future__ import annotations

from waymark.infra.outbox.outbox import (
    Handler,
    HandlerRegistry,
    Outbox,
    OutboxMessage,
    PermanentFailure,
    TransactionalHandler,
)
from waymark.infra.outbox.relay import OutboxRelay, RelayReport, RetryPolicy
from waymark.infra.outbox.tables import DEAD, DONE, PENDING

__all__ = [
    "DEAD",
    "DONE",
    "PENDING",
    "Handler",
    "HandlerRegistry",
    "Outbox",
    "OutboxMessage",
    "OutboxRelay",
    "PermanentFailure",
    "RelayReport",
    "RetryPolicy",
    "TransactionalHandler",
]
