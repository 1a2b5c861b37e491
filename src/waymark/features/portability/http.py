"""REST for the account's export and import, under `/api/v1/me`: thin over `Portability`.

The import's body is read as bytes and handed to `Portability.import_document`, which
decodes it off the event loop (the settings page's upload goes the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, RequestBody
from litestar.response import Stream

from waymark.features.portability.limits import EXPORT_ACCOUNT, IMPORT_ACCOUNT
from waymark.features.portability.schemas import (
    MAX_IMPORT_BYTES,
    ExportDocument,
    ImportDocument,
    ImportReport,
)
from waymark.features.portability.service import Portability
from waymark.kernel.errors import (
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from waymark.transport.http.identity import (
    AUTHENTICATED,
    NO_STORE,
    Caller,
    CallerAccount,
    RequestIdentity,
)
from waymark.transport.http.openapi import ProblemOperation, struct_schema
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router


@dataclass
class ImportUpload(ProblemOperation):
    """The import reads its body as bytes (to decode it off the loop): its schema is set
    here, as Litestar would for a `data: ImportDocument`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            required=True,
            description="A document from `GET /api/v1/me/export`.",
            content={"application/json": OpenAPIMediaType(schema=struct_schema(ImportDocument))},
        )


def portability_routes(portability: Portability, identity: RequestIdentity) -> Router:
    @get(
        "/export",
        summary="Everything your account holds, as one JSON document",
        description=(
            "Profile, sessions, authentication events, and what you made: every log of "
            "progress (retired topics' changes included), notes and own resources. The answer "
            "streams; `POST /api/v1/me/import` takes it back, here or on another Waymark. At "
            f"most {EXPORT_ACCOUNT.limit} an hour."
        ),
        responses={
            200: ResponseSpec(
                data_container=ExportDocument,
                description="The document (streamed).",
                media_type="application/json",
                generate_examples=False,
            ),
            **documented_problems(*AUTHENTICATED, RateLimited, ServiceUnavailable),
        },
    )
    async def export(principal: Caller, account: CallerAccount) -> Stream:
        document = await portability.export(principal, account)
        day = portability.clock.now().strftime("%Y%m%d")
        return Stream(
            document.chunks(),
            media_type="application/json",
            headers={
                **NO_STORE,
                "content-disposition": f'attachment; filename="waymark-export-{day}.json"',
            },
        )

    @post(
        "/import",
        summary="Bring back progress, notes and resources from an export",
        description=(
            "Adds what the account lacks and never overwrites what it has: a topic with a "
            "history or a note of its own here keeps it (and the answer names it). Importing "
            "the same document twice changes nothing the second time. Topics and roadmaps "
            "this Waymark does not have are reported, not fatal. At most "
            f"{MAX_IMPORT_BYTES // 2**20} MiB, {IMPORT_ACCOUNT.limit} an hour."
        ),
        status_code=200,
        request_max_body_size=MAX_IMPORT_BYTES,
        operation_class=ImportUpload,
        responses=documented_problems(
            *BAD_BODY, *AUTHENTICATED, NotFound, RateLimited, ServiceUnavailable
        ),
    )
    async def import_(
        request: Request[Any, Any, Any], account: CallerAccount
    ) -> Response[ImportReport]:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType("send the export document as application/json")
        report = await portability.import_document(account, await request.body())
        return Response(report, headers=NO_STORE)

    return Router(
        path="/api/v1/me",
        route_handlers=[export, import_],
        dependencies=identity.dependencies(),
        tags=["me"],
    )
