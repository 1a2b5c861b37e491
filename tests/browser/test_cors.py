"""CORS as a browser enforces it: a front-end on an allowed origin reads the API with
credentials, through a preflight; a page on any other origin cannot read it at all.

The front-ends are tiny servers of their own on 127.0.0.1 (other origins than the site's
`localhost`), serving one bare page from which the browser calls the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from tests.browser.support import Site
from tests.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

FETCH = """async (url) => {
  try {
    const response = await fetch(url, {
      credentials: "include",
      headers: {"x-request-id": "cors-probe-1", "content-type": "application/json"},
    });
    return {status: response.status, requestId: response.headers.get("x-request-id"),
            sections: (await response.json()).sections.length};
  } catch (error) {
    return {error: error.name};
  }
}"""


class FrontEnd(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another front-end</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def front_end(origin: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", urlsplit(origin).port or 80), FrontEnd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def call_api_from(browser: Browser, origin: str, api: str) -> dict[str, object]:
    with front_end(origin), browser.new_context() as context:
        page = context.new_page()
        page.goto(f"{origin}/")
        result: dict[str, object] = page.evaluate(FETCH, api)
        return result


def test_an_allowed_front_end_reads_the_api_with_credentials(browser: Browser, site: Site) -> None:
    # A custom header and a JSON content type: the browser asks with a preflight first.
    api = site.url("/api/v1/roadmaps/backend")
    assert call_api_from(browser, site.front_end, api) == {
        "status": 200,
        "requestId": "cors-probe-1",
        "sections": 8,
    }


def test_another_origin_cannot_read_the_api(browser: Browser, site: Site) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}"
    api = site.url("/api/v1/roadmaps/backend")
    assert call_api_from(browser, elsewhere, api) == {"error": "TypeError"}
