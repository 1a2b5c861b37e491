"""Writers of one learner's log take turns on its event numbers.

Each writer reads the last number and writes the next; the unique (account, roadmap, seq)
refuses all but one of those that read the same. The others run their transaction again
from the start, reading what the winner wrote: nothing waits holding a lock across awaits,
which is why a change of the log owns its transaction.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.sql.database import Database
from waymark.kernel.errors import Conflict

log = structlog.get_logger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 50
"""Tries of a change that keeps losing the race for the next event number: one writer of a
log wins each round, so N writers at once need N rounds. Between tries a writer waits a
random, growing while (holding no connection), so the herd spreads out."""
BACKOFF_CAP = 0.2


async def in_turn(db: Database, work: Callable[[AsyncConnection], Awaitable[T]], what: str) -> T:
    """`work` in a transaction of its own, again (from the start) while another writer of
    the same log takes the number it wanted; `Conflict` after `MAX_ATTEMPTS`."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with db.transaction() as conn:
                return await work(conn)
        except IntegrityError:
            log.debug("progress.retry", attempt=attempt, what=what)
            await asyncio.sleep(random.uniform(0, min(BACKOFF_CAP, 0.005 * 2**attempt)))  # noqa: S311
    raise Conflict(f"too many changes at once to {what}; try again")
