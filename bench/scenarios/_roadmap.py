"""What the roadmap scenarios share: the roadmap's URL and the raw-bytes limit's configuration."""

from __future__ import annotations

from typing import Any

from bench.scenario import AppContext, Response

ROADMAP_SLUG = "backend"
ROADMAP_PATH = f"/api/v1/roadmaps/{ROADMAP_SLUG}"


def fetch_roadmap(ctx: AppContext) -> tuple[Response, str]:
    """The app's 200 answer for the roadmap and its ETag."""
    resp = ctx.get(ROADMAP_PATH)
    if resp.status != 200:
        raise RuntimeError(f"GET {ROADMAP_PATH} answered {resp.status}: {resp.body[:300]!r}")
    etag = resp.header("etag")
    if not etag:
        raise RuntimeError(f"GET {ROADMAP_PATH} sent no ETag")
    return resp, etag


def raw_bytes_config(ctx: AppContext) -> dict[str, Any]:
    """Configuration for `bench.limits.raw_bytes`: the app's bytes and headers, 200 and 304."""
    ok, etag = fetch_roadmap(ctx)
    not_modified = ctx.get(ROADMAP_PATH, {"If-None-Match": etag})
    if not_modified.status != 304:
        raise RuntimeError(f"GET {ROADMAP_PATH} with If-None-Match answered {not_modified.status}")
    return {
        "path": ROADMAP_PATH,
        "body_file": str(ctx.write_file("roadmap.body", ok.body)),
        "etag": etag,
        "headers": [list(h) for h in ok.headers],
        "not_modified_headers": [list(h) for h in not_modified.headers],
    }
