"""REST for roadmaps: thin handlers over `RoadmapCatalog`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema
from litestar.params import PathParameter, QueryParameter

from waymark.features.roadmaps import document
from waymark.features.roadmaps.limits import VALIDATE_IP
from waymark.features.roadmaps.schemas import (
    RoadmapDetail,
    RoadmapSummary,
    TopicDetail,
    ValidationReport,
)
from waymark.features.roadmaps.service import RenderedRoadmap, RoadmapCatalog
from waymark.kernel.errors import (
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from waymark.kernel.pagination import DEFAULT_LIMIT, Page
from waymark.kernel.throttle import Throttle
from waymark.transport.http.fast import Answer, FastRequest, FastRoute, json_answer
from waymark.transport.http.identity import Client, RequestIdentity
from waymark.transport.http.offload import OffLoop
from waymark.transport.http.openapi import ProblemOperation
from waymark.transport.http.params import PageLimit
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

CACHE_CONTROL = "public, max-age=60"
_DOCUMENT_MEDIA_TYPES: dict[str, document.DocumentFormat] = {
    "application/json": "json",
    "application/toml": "toml",
}
PARSE_WAIT_SECONDS = 5.0
"""How long a document waits for the parser before the answer is 503."""

Cursor = Annotated[
    str | None,
    QueryParameter(max_length=512, description="`next_cursor` from the previous page."),
]
SlugPath = Annotated[str, PathParameter(description="The roadmap's slug, e.g. `backend`.")]
TopicIdPath = Annotated[
    str, PathParameter(description="The topic's stable id, e.g. `databases.postgresql`.")
]


@dataclass
class DocumentUpload(ProblemOperation):
    """The validate operation: its body is a document, read as bytes rather than decoded by
    Litestar, so the schema would otherwise not show it has one."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            required=True,
            description="A roadmap document, as `waymark roadmaps export` writes it.",
            content={
                "application/toml": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
            },
        )


def roadmap_routes(
    catalog: RoadmapCatalog, identity: RequestIdentity, *, throttle: Throttle
) -> Router:
    # Parsing is CPU work (TOML is pure Python): off the event loop, one document at a time.
    parser = OffLoop(
        slots=1,
        wait_seconds=PARSE_WAIT_SECONDS,
        busy="other documents are being checked; try again shortly",
    )

    @get(
        "/",
        summary="List roadmaps",
        operation_id="listRoadmaps",
        responses=documented_problems(ValidationFailed),
    )
    async def list_roadmaps(
        limit: PageLimit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Page[RoadmapSummary]:
        return await catalog.list_roadmaps(limit=limit, cursor=cursor)

    @get(
        "/{slug:str}",
        summary="Get a roadmap with its sections and topics, in order",
        operation_id="getRoadmap",
        response_description="The roadmap. Send `If-None-Match` with the `ETag` to get a 304.",
        responses={
            304: ResponseSpec(data_container=None, description="Not modified."),
            **documented_problems(NotFound),
        },
    )
    async def get_roadmap(
        request: Request[Any, Any, Any], slug: SlugPath
    ) -> Response[RoadmapDetail]:
        rendered = await catalog.rendered(slug)
        status, headers, body = roadmap_answer(rendered, request.headers.get("if-none-match"))
        # The bytes were serialized once from a RoadmapDetail; the annotation documents it.
        return Response(content=body, status_code=status, headers=headers)  # type: ignore[arg-type]

    @get(
        "/{slug:str}/topics/{topic_id:str}",
        summary="Get one topic with its section",
        operation_id="getTopic",
        responses=documented_problems(NotFound),
    )
    async def get_topic(slug: SlugPath, topic_id: TopicIdPath) -> TopicDetail:
        return await catalog.topic(slug, topic_id)

    @post(
        "/validate",
        summary="Check a roadmap document without importing it",
        description=(
            "Send the document as `application/toml` (the format `waymark roadmaps export` "
            "writes) or `application/json`, at most "
            f"{document.MAX_DOCUMENT_BYTES // 1024} KiB. A 200 means `waymark roadmaps import` "
            "will accept it; a 422 lists every failing field with its path. At most "
            f"{VALIDATE_IP.limit} documents a minute per client address."
        ),
        operation_id="validateRoadmap",
        status_code=200,
        request_max_body_size=document.MAX_DOCUMENT_BYTES,
        responses=documented_problems(*BAD_BODY, RateLimited, ServiceUnavailable),
        operation_class=DocumentUpload,
    )
    async def validate_roadmap(request: Request[Any, Any, Any], client: Client) -> ValidationReport:
        await throttle.check((VALIDATE_IP, client.ip))
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        fmt = _DOCUMENT_MEDIA_TYPES.get(media_type)
        if fmt is None:
            raise UnsupportedMediaType(
                f"send the document as one of: {', '.join(sorted(_DOCUMENT_MEDIA_TYPES))}"
            )
        spec = await parser.run(document.parse, await request.body(), fmt)
        return ValidationReport(
            slug=spec.slug,
            sections=len(spec.sections),
            topics=sum(len(s.topics) for s in spec.sections),
            content_hash=document.content_hash(spec),
        )

    return Router(
        path="/api/v1/roadmaps",
        route_handlers=[list_roadmaps, get_roadmap, get_topic, validate_roadmap],
        dependencies=identity.dependencies(),
        tags=["roadmaps"],
    )


def roadmap_answer(
    rendered: RenderedRoadmap, if_none_match: str | None
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of `GET /roadmaps/{slug}`: the one place both the route and
    its fast route take them from."""
    headers = {"etag": rendered.etag, "cache-control": CACHE_CONTROL}
    if not_modified(if_none_match, rendered.etag):
        return 304, headers, b""
    return 200, {**headers, "content-type": "application/json"}, rendered.body


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of `If-None-Match` against our strong ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(
        candidate.strip().removeprefix("W/") == etag for candidate in if_none_match.split(",")
    )


ROADMAP_TEMPLATE = "/api/v1/roadmaps/{slug}"
TOPIC_TEMPLATE = "/api/v1/roadmaps/{slug}/topics/{topic_id}"
_SEGMENT = "[^/]+"  # the routes' slug and topic id: any text (an unknown one is a 404)


def roadmap_fast_routes(catalog: RoadmapCatalog) -> list[FastRoute]:
    """The roadmap and its topics answered before routing (`transport/http/fast.py`).

    The roadmap is the hottest public read and its answer is already made: the fast path
    serves fresh cached bytes and leaves a miss or a stale entry to the route above, the
    source of truth, which reads and refills the cache (a test compares both on a cold, a
    warm and a stale cache). A topic is answered from the catalog as the route does.
    """

    async def roadmap(request: FastRequest) -> Answer | None:
        rendered = catalog.fresh(request.params["slug"])
        if rendered is None:
            return None
        return roadmap_answer(rendered, request.header(b"if-none-match"))

    async def topic(request: FastRequest) -> Answer:
        return json_answer(await catalog.topic(request.params["slug"], request.params["topic_id"]))

    return [
        FastRoute(ROADMAP_TEMPLATE, roadmap, {"slug": _SEGMENT}),
        FastRoute(TOPIC_TEMPLATE, topic, {"slug": _SEGMENT, "topic_id": _SEGMENT}),
    ]
