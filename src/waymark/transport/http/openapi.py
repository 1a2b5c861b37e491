"""The API's description: the OpenAPI schema, what it says beyond what Litestar derives on
its own, and the docs page (Swagger UI, served from our origin, no CDN)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import msgspec
from litestar import Request, get

# Litestar's own schema for msgspec structs; it has no public name in Litestar 2.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Contact, OpenAPIResponse, Operation
from litestar.params import PathParameter
from litestar.response import File
from litestar.routes import BaseRoute, HTTPRoute
from swagger_ui_bundle import swagger_ui_path

from waymark import __version__
from waymark.kernel.decoding import MAX_NESTING
from waymark.kernel.errors import NotFound
from waymark.transport.http.problems import PROBLEM_MEDIA_TYPE
from waymark.transport.http.router import Router

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class ClosedStructSchemas(StructSchemaPlugin):
    """`additionalProperties: false` for structs that refuse unknown fields.

    Request bodies are `forbid_unknown_fields` structs (no mass assignment), but Litestar's
    schema for them said nothing about it, so clients could not know an extra field is a 422.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


@dataclass
class ProblemOperation(Operation):
    """An operation whose error answers are only the problem+json ones its route documents.

    Litestar adds a 400 in the shape of its own ValidationException to every operation with
    parameters or a body; this app answers those with 422 `validation-failed` problems.
    """

    def __post_init__(self) -> None:
        self.responses = {
            status: response
            for status, response in (self.responses or {}).items()
            if int(status) < 400
            or (
                isinstance(response, OpenAPIResponse)
                and PROBLEM_MEDIA_TYPE in (response.content or {})
            )
        } or None


def struct_schema(struct: type[msgspec.Struct]) -> Schema:
    """A struct's schema, for a body a route reads as bytes (to decode it off the event loop)
    where Litestar cannot derive it; the structs it holds are referenced by the names of the
    components Litestar makes for them (which another route's answer must use)."""
    _, components = msgspec.json.schema_components(
        [struct], ref_template="#/components/schemas/{name}"
    )
    # A JSON Schema as a dict: Litestar writes dicts out as they are.
    return cast("Schema", components[struct.__name__])


def describe_errors_as_problems(routes: Iterable[BaseRoute]) -> None:
    """Give every route handler still on Litestar's default operation a ProblemOperation."""
    for route in routes:
        for handler in route.route_handlers if isinstance(route, HTTPRoute) else ():
            if handler.operation_class is Operation:
                handler.operation_class = ProblemOperation


DOCS_PATH = "/schema"
DOCS_ASSETS = "assets"
SWAGGER_UI_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
)
"""What the docs page loads; nothing else of the Swagger UI distribution is served."""


def openapi_config() -> OpenAPIConfig:
    assets = f"{DOCS_PATH}/{DOCS_ASSETS}"
    return OpenAPIConfig(
        title="Waymark API",
        version=__version__,
        description=(
            "Follow learning roadmaps step by step. Errors are RFC 9457 problem+json with a "
            "stable `code`: `not-found`, `validation-failed` (with `errors`), `malformed-body` "
            f"(not JSON, not UTF-8, or nested deeper than {MAX_NESTING} levels), "
            "`method-not-allowed`, `payload-too-large`, `unsupported-media-type`, "
            "`rate-limited`, `service-unavailable`, `internal` (with only `request_id`)."
        ),
        contact=Contact(name="Waymark"),
        openapi_router=Router(
            path=DOCS_PATH,
            route_handlers=[_swagger_ui_file(Path(swagger_ui_path))],
            before_request=_refuse_unknown_docs_paths,
            include_in_schema=False,
        ),
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{assets}/swagger-ui-bundle.js",
                css_url=f"{assets}/swagger-ui.css",
                standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' href='{assets}/favicon-32x32.png'>",
                path="/docs",
            )
        ],
    )


def _swagger_ui_file(directory: Path) -> HTTPRouteHandler:
    files = {name: directory / name for name in SWAGGER_UI_FILES}

    @get(f"/{DOCS_ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
    def swagger_ui_file(name: Annotated[str, PathParameter()]) -> File:
        path = files.get(name)
        if path is None:
            raise NotFound("not a file of the docs page")
        return File(path, filename=name, content_disposition_type="inline")

    return swagger_ui_file


async def _refuse_unknown_docs_paths(request: Request[Any, Any, Any]) -> None:
    """Litestar answers any other `/schema/<name>` with an HTML page of its own; here it is
    a 404 problem like everywhere else."""
    if request.scope.get("path_template") == f"{DOCS_PATH}/{{path}}":
        raise NotFound()
