"""The link checker: a daily scheduled job that fetches the URLs of learners' own resources
and marks those that lead nowhere as dead (`Resource.dead`), for the learner to fix or drop.

It fetches through a `LinkFetcher`, a port: the composition root hands it the SSRF-safe
fetcher (`../shared/SECURITY.md`: resolve, check every address, connect to the checked one,
re-check redirects, caps on size and time, no proxy from the environment), since the URLs
are the learners' choice. Without one, the job is not scheduled.

A run goes through the accounts a page at a time (`AccountIds`, injected: this feature reads
no account tables) and their resources, checking those never checked or checked more than
`recheck` ago, at most `max_checks` a run, `concurrency` at a time; the rest wait for the
next run. A result is written back only to a resource still there with the same URL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from waymark.features.notes.documents import RESOURCES, ResourcesDocument, read
from waymark.features.notes.resources import OwnResources
from waymark.features.notes.topics import owner
from waymark.infra.scheduler import ScheduledJobs, ScheduledRun
from waymark.kernel.ports import MAX_SCAN_LIMIT, DocumentStore

log = structlog.get_logger(__name__)

ACCOUNT_PAGE = 200
DEAD_STATUSES = frozenset({404, 410})


class LinkFetcher(Protocol):
    async def fetch(self, url: str) -> int | None:
        """The HTTP status a GET of `url` ends with (redirects followed), or None when
        nothing answered: unresolvable, refused (by the network or by the SSRF rules),
        timed out."""
        ...


class AccountIds(Protocol):
    def __call__(self, *, after: uuid.UUID | None, limit: int) -> Awaitable[list[uuid.UUID]]:
        """A page of account ids, in order, after `after`."""
        ...


def is_dead(status: int | None) -> bool:
    """Nothing there: no answer, gone (404, 410), or a server failing (5xx). A 401, 403 or
    429 is a server that answers (it refuses robots): alive."""
    return status is None or status in DEAD_STATUSES or status >= 500


class LinkChecker:
    def __init__(
        self,
        *,
        store: DocumentStore,
        resources: OwnResources,
        fetcher: LinkFetcher,
        accounts: AccountIds,
        recheck: timedelta = timedelta(days=7),
        max_checks: int = 500,
        concurrency: int = 4,
    ) -> None:
        self.store = store
        self.resources = resources
        self.fetcher = fetcher
        self.accounts = accounts
        self.recheck = recheck
        self.max_checks = max_checks
        self._slots = asyncio.Semaphore(concurrency)

    def register(self, schedules: ScheduledJobs, *, cron: str = "0 3 * * *") -> None:
        schedules.add(
            "notes-link-check",
            cron,
            self.run,
            catch_up="once",
            description="marks dead links on learners' resources",
        )

    async def run(self, run: ScheduledRun) -> int:
        """Check what is due as of the slot; returns how many links were checked."""
        due_before = run.slot - self.recheck
        checked = 0
        after: uuid.UUID | None = None
        while checked < self.max_checks and (
            page := await self.accounts(after=after, limit=ACCOUNT_PAGE)
        ):
            after = page[-1]
            for account_id in page:
                checked += await self._check_account(account_id, due_before, run.slot, checked)
                if checked >= self.max_checks:
                    break
            if len(page) < ACCOUNT_PAGE:
                break
        log.info("notes.links_checked", checked=checked)
        return checked

    async def _check_account(
        self, account_id: uuid.UUID, due_before: datetime, now: datetime, done: int
    ) -> int:
        checked = 0
        last_key: str | None = None
        while True:
            documents = await self.store.scan(
                owner(account_id), RESOURCES, after=last_key, limit=MAX_SCAN_LIMIT
            )
            for document in documents:
                due = [
                    (resource.id, resource.url)
                    for resource in read(document.body, ResourcesDocument).resources
                    if resource.checked_at is None or resource.checked_at <= due_before
                ][: self.max_checks - done - checked]
                if due:
                    results = await asyncio.gather(*(self._status(url) for _, url in due))
                    await self._record(account_id, document.key, due, results, now)
                    checked += len(due)
                if done + checked >= self.max_checks:
                    return checked
            if len(documents) < MAX_SCAN_LIMIT:
                return checked
            last_key = documents[-1].key

    async def _status(self, url: str) -> int | None:
        async with self._slots:
            try:
                return await self.fetcher.fetch(url)
            except Exception:  # the fetcher's own failure: count it as no answer
                log.warning("notes.link_check_failed", exc_info=True)
                return None

    async def _record(
        self,
        account_id: uuid.UUID,
        key: str,
        due: list[tuple[str, str]],
        results: list[int | None],
        now: datetime,
    ) -> None:
        outcome = {
            resource_id: (url, is_dead(status))
            for (resource_id, url), status in zip(due, results, strict=True)
        }

        def mark(stored: ResourcesDocument) -> None:
            for resource in stored.resources:
                found = outcome.get(resource.id)
                if found is not None and found[0] == resource.url:  # unchanged meanwhile
                    resource.dead = found[1]
                    resource.checked_at = now

        await self.resources.edit_topic(account_id, key, mark)
