"""What the OpenAPI schema says beyond what Litestar derives on its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Litestar's own schema for msgspec structs; it has no public name in Litestar 2.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import OpenAPIResponse, Operation
from litestar.routes import BaseRoute, HTTPRoute

from waymark.transport.http.problems import PROBLEM_MEDIA_TYPE

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


def describe_errors_as_problems(routes: Iterable[BaseRoute]) -> None:
    """Give every route handler still on Litestar's default operation a ProblemOperation."""
    for route in routes:
        for handler in route.route_handlers if isinstance(route, HTTPRoute) else ():
            if handler.operation_class is Operation:
                handler.operation_class = ProblemOperation
