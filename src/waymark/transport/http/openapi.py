"""What the OpenAPI schema says beyond what Litestar derives on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

# Litestar's own schema for msgspec structs; it has no public name in Litestar 2.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

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
