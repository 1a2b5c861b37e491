"""The resource link checker, run as the scheduler runs it (slot enqueued, relay delivers),
through the SSRF-safe fetcher the container wires (`infra/fetch`), against an HTTP server
this test starts on 127.0.0.1, on SQLite and PostgreSQL. The fetcher refuses loopback
addresses and plain http: this test's settings let 127.0.0.1 and http through
(`WAYMARK_FETCH__ALLOWED_NETWORKS`, `..._ALLOW_HTTP`, which production refuses), and a link
to another internal address is still refused, so it counts as dead without being fetched.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.config import app_settings
from tests.integration.progress_support import TOPICS, new_account
from tests.integration.test_scheduled_jobs import container, run_slot  # noqa: F401  (fixture)
from waymark.container import Container
from waymark.features.notes.links import is_dead
from waymark.infra.sql.database import Database
from waymark.settings import FetchSettings, Settings

SLOT = datetime(2030, 1, 7, 3, 0, tzinfo=UTC)


class Site:
    """An HTTP/1.1 server answering 200 on /alive, 403 on /robots-refused, 404 elsewhere;
    it counts the requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        while (await reader.readline()).strip():
            pass
        path = request.split()[1].decode()
        self.hits[path] = self.hits.get(path, 0) + 1
        status = {"/alive": "200 OK", "/robots-refused": "403 Forbidden"}.get(path, "404 Not Found")
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    served = Site()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0)
    served.port = server.sockets[0].getsockname()[1]
    async with server:
        yield served


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    fetch = FetchSettings(allow_http=True, allowed_networks=["127.0.0.1/32"], timeout=2)
    return app_settings(database_url=database_url, var_dir=tmp_path / "var", fetch=fetch)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_dead_links_are_marked_and_live_ones_are_not(
    container: Container,  # noqa: F811
    db: Database,
    site: Site,
) -> None:
    learner = await new_account(db)
    base = f"http://127.0.0.1:{site.port}"
    urls = {
        "alive": f"{base}/alive",
        "refused": f"{base}/robots-refused",
        "gone": f"{base}/gone",
        "nobody": f"http://127.0.0.1:{_closed_port()}/",
        "internal": f"http://10.0.0.1:{site.port}/alive",  # never fetched: refused, so dead
    }
    for title, url in urls.items():
        await container.notes.resources.add(
            learner.id, "backend", TOPICS[0], title=title, url=url, kind="article"
        )
    assert container.link_checker is not None  # the container wires the fetcher

    await run_slot(container, "notes-link-check", SLOT)

    found = await container.notes.resources.list(learner.id, "backend", TOPICS[0])
    assert {r.title: r.dead for r in found} == {
        "alive": False,
        "refused": False,
        "gone": True,
        "nobody": True,
        "internal": True,
    }
    assert {r.checked_at for r in found} == {SLOT}
    # The next day's run checks nothing again (a week between checks); a week on, all.
    await run_slot(container, "notes-link-check", SLOT + timedelta(days=1))
    assert site.hits == {"/alive": 1, "/robots-refused": 1, "/gone": 1}
    await run_slot(container, "notes-link-check", SLOT + timedelta(days=8))
    assert site.hits == {"/alive": 2, "/robots-refused": 2, "/gone": 2}


def test_what_counts_as_dead() -> None:
    assert [is_dead(s) for s in (None, 200, 301, 401, 403, 429, 404, 410, 500, 503)] == [
        True, False, False, False, False, False, True, True, True, True,
    ]  # fmt: skip
