"""REST for learning progress, under `/api/v1/me`: thin handlers over `ProgressService`.

`GET me/progress/{slug}` has an ETag (it changes with the learner's log, the roadmap's
version and what they marked seen): send it as `If-None-Match` for a 304, or as `If-Match`
on a change to refuse it (412) when the view it was based on is stale.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter

from waymark.features.progress.schemas import (
    BatchChange,
    HistoryEntry,
    RoadmapProgress,
    RoadmapProgressSummary,
    StatusChange,
    Streak,
    TopicStatusResult,
)
from waymark.features.progress.service import ProgressService
from waymark.kernel.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    ValidationFailed,
)
from waymark.kernel.pagination import DEFAULT_LIMIT
from waymark.transport.http.fast import Answer, FastRequest, FastRoute, json_answer
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import AUTHENTICATED, NO_STORE, CallerAccount, RequestIdentity
from waymark.transport.http.params import PageLimit, int64
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

SLUG_MAX = 64
TOPIC_MAX = 129
IF_MATCH_MAX = 128
IF_NONE_MATCH_MAX = 1024
SlugPath = Annotated[str, PathParameter(max_length=SLUG_MAX, description="A roadmap's slug.")]
TopicPath = Annotated[str, PathParameter(max_length=TOPIC_MAX, description="A topic's stable id.")]
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="if-match",
        required=False,
        max_length=IF_MATCH_MAX,
        description="The view's ETag: the change is refused (412) if the view changed since.",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(name="if-none-match", required=False, max_length=IF_NONE_MATCH_MAX),
]
Before = Annotated[int | None, int64(ge=1, description="`seq` of the last change seen.")]
CHANGE_PROBLEMS = (
    *BAD_BODY,
    *AUTHENTICATED,
    NotFound,
    PreconditionFailed,
    Conflict,
    ServiceUnavailable,
)


def progress_routes(progress: ProgressService, identity: RequestIdentity) -> Router:
    @get(
        "/progress",
        summary="Every roadmap you started, with its counts",
        responses=documented_problems(*AUTHENTICATED),
    )
    async def overview(account: CallerAccount) -> Response[list[RoadmapProgressSummary]]:
        return Response(await progress.overview(account), headers=NO_STORE)

    @get(
        "/progress/{slug:str}",
        summary="Your progress on one roadmap: statuses, counts, next up, what changed",
        responses={
            304: ResponseSpec(data_container=None, description="Not modified."),
            **documented_problems(*AUTHENTICATED, NotFound, ValidationFailed),
        },
    )
    async def view(
        account: CallerAccount, slug: SlugPath, if_none_match: IfNoneMatch = None
    ) -> Response[RoadmapProgress]:
        status, headers, body = view_answer(*await progress.view(account, slug), if_none_match)
        # The view was encoded by `view_answer`; the annotation documents what it is.
        return Response(content=body, status_code=status, headers=headers)  # type: ignore[arg-type]

    @put(
        "/progress/{slug:str}/topics/{topic_id:str}",
        summary="Set one topic's status (the same status again changes nothing)",
        responses=documented_problems(*CHANGE_PROBLEMS),
    )
    async def set_status(
        account: CallerAccount,
        slug: SlugPath,
        topic_id: TopicPath,
        data: JSONBody[StatusChange],
        if_match: IfMatch = None,
    ) -> Response[TopicStatusResult]:
        result, tag = await progress.set_status(
            account, slug, topic_id, data.status, if_match=if_match
        )
        return Response(result, headers={"etag": tag, **NO_STORE})  # as the fast route

    @post(
        "/progress/{slug:str}/batch",
        summary="Set several topics' statuses at once: all or nothing",
        status_code=200,
        responses=documented_problems(*CHANGE_PROBLEMS),
    )
    async def set_statuses(
        account: CallerAccount,
        slug: SlugPath,
        data: JSONBody[BatchChange],
        if_match: IfMatch = None,
    ) -> Response[list[TopicStatusResult]]:
        results, tag = await progress.set_statuses(account, slug, data.changes, if_match=if_match)
        return Response(results, headers={"etag": tag, **NO_STORE})

    @post(
        "/progress/{slug:str}/seen",
        summary="Mark the roadmap's current version seen: what changes later is reported",
        status_code=204,
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, NotFound),
    )
    async def mark_seen(account: CallerAccount, slug: SlugPath) -> Response[None]:
        tag = await progress.mark_seen(account, slug)
        return Response(None, status_code=204, headers={"etag": tag})

    @get(
        "/progress/{slug:str}/history",
        summary="Your changes to one roadmap, newest first",
        responses=documented_problems(*AUTHENTICATED, NotFound, ValidationFailed),
    )
    async def history(
        account: CallerAccount,
        slug: SlugPath,
        limit: PageLimit = DEFAULT_LIMIT,
        before: Before = None,
    ) -> Response[list[HistoryEntry]]:
        entries = await progress.history(account, slug, before=before, limit=limit)
        return Response(entries, headers=NO_STORE)

    @get(
        "/streak",
        summary="Your current and longest runs of days with progress",
        responses=documented_problems(*AUTHENTICATED),
    )
    async def streak(account: CallerAccount) -> Response[Streak]:
        return Response(await progress.streak(account), headers=NO_STORE)

    return Router(
        path="/api/v1/me",
        route_handlers=[overview, view, set_status, set_statuses, mark_seen, history, streak],
        dependencies=identity.dependencies(),
        before_request=require_json_body,
        tags=["progress"],
    )


VIEW_TEMPLATE = "/api/v1/me/progress/{slug}"


def view_answer(view: RoadmapProgress, tag: str, if_none_match: str | None) -> Answer:
    """`GET me/progress/{slug}`'s answer, for the route and its fast route alike."""
    headers = {"etag": tag, **NO_STORE}
    if if_none_match is not None and tag in {v.strip() for v in if_none_match.split(",")}:
        return 304, headers, b""
    return json_answer(view, headers)


STATUS_TEMPLATE = "/api/v1/me/progress/{slug}/topics/{topic_id}"
_decode_change = msgspec.json.Decoder(StatusChange).decode


def progress_fast_routes(progress: ProgressService) -> list[FastRoute]:
    """A learner's view of a roadmap and the change of one topic's status, answered before
    routing (`transport/http/fast.py`): what a learner's page or app sends most. Anything
    the routes' parameters or body would refuse is left to them."""

    async def view(request: FastRequest) -> Answer | None:
        if_none_match = request.header(b"if-none-match")
        if if_none_match is not None and len(if_none_match) > IF_NONE_MATCH_MAX:
            return None
        principal = await request.caller()
        return view_answer(
            *await progress.view(principal.account, request.params["slug"]), if_none_match
        )

    async def set_status(request: FastRequest) -> Answer | None:
        body = await request.body()
        if body is None:
            return None
        try:
            change = _decode_change(body)
        except (msgspec.DecodeError, ValueError):  # invalid, or not UTF-8: the route says
            return None
        if_match = request.header(b"if-match")
        if if_match is not None and len(if_match) > IF_MATCH_MAX:
            return None
        principal = await request.caller()
        result, tag = await progress.set_status(
            principal.account,
            request.params["slug"],
            request.params["topic_id"],
            change.status,
            if_match=if_match,
        )
        return json_answer(result, {"etag": tag, **NO_STORE})

    slug = {"slug": f"[^/]{{1,{SLUG_MAX}}}"}
    hooks = (require_json_body,)
    return [
        FastRoute(VIEW_TEMPLATE, view, slug, before_request=hooks, reads=True),
        FastRoute(
            STATUS_TEMPLATE,
            set_status,
            {**slug, "topic_id": f"[^/]{{1,{TOPIC_MAX}}}"},
            method="PUT",
            before_request=hooks,
        ),
    ]
