"""Fixtures of the browser tests: one real server per test worker (the tests share an
xdist group, so that is one for the whole suite) and one Chromium per module.

Chromium goes with its module: Playwright's sync API keeps an event loop running in this
thread while it is open, and every test after it that runs `asyncio.run` (migrating a
database) would fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage

from tests.browser.support import (
    CSP_WATCH,
    LIVE_WATCH,
    Site,
    chromium,
    missing_tools,
    served_site,
)
from tests.needs import unavailable


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if missing := missing_tools():
        unavailable(", ".join(missing), "run `make browser-tools` (as root it installs them)")
    with served_site(tmp_path_factory.mktemp("browser") / "var") as served:
        yield served


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


class Console(list[str]):
    """Errors the pages of a context logged (CSP violations among them). Its pages also
    keep the kinds of live events they were handed (`LIVE_WATCH`)."""

    def watch(self, context: BrowserContext) -> None:
        context.add_init_script(script=CSP_WATCH)
        context.add_init_script(script=LIVE_WATCH)

        def record(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.append(f"{message.text} ({message.location.get('url', '')})")

        context.on("console", record)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    """A fresh profile (no cookies, nothing stored), watched for CSP violations."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    console.watch(ctx)
    yield ctx
    ctx.close()
