"""`page-roadmap-anon`: the backend roadmap page for a stranger, `GET /roadmaps/backend`
(issue 12, "Speed": "the anonymous page ≥ 0.6 of serving its cached bytes").

The stranger is a browser that has been here before: it sends the form cookie the app gave
it (`__Host-waymark_form`, whose token the page's forms carry), so the app sets no cookie and
answers the same page every time. The limit (`bench/limits/raw_stranger_page.py`) sends that
page, captured here, from memory.
"""

from __future__ import annotations

from bench.scenario import AppContext, Request, Scenario, Target, Workload
from bench.scenarios._pages import FORM_COOKIE, PAGE_PATH, page


def prepare(ctx: AppContext) -> Workload:
    first = ctx.get(PAGE_PATH)
    given = next(
        (v for k, v in first.headers if k.lower() == "set-cookie" and v.startswith(FORM_COOKIE)),
        None,
    )
    if first.status != 200 or given is None:
        raise RuntimeError(f"GET {PAGE_PATH} answered {first.status}, form cookie {given!r}")
    cookie = given.split(";", 1)[0]
    sample = page(ctx, cookie)
    return Workload(
        requests=[Request(PAGE_PATH, headers={"cookie": cookie})],
        expect_status=200,
        same_body=True,
        limit_config={
            "path": PAGE_PATH,
            "body_file": str(ctx.write_file("stranger-page.html", sample.body)),
            "etag": "-",  # the page has none: no request matches
            "headers": [list(h) for h in sample.headers],
            "not_modified_headers": [],
        },
    )


SCENARIO = Scenario(
    name="page-roadmap-anon",
    summary=f"GET {PAGE_PATH} as a stranger with the form cookie they were given",
    limit_app="bench.limits.raw_stranger_page:app",
    limit_summary="raw ASGI sending the app's page for that stranger from memory",
    prepare=prepare,
    profiles=("production", "embedded"),
    targets=(Target(min_ratio=0.6, connections=64),),
)
