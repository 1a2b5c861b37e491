"""The OpenAPI schema tells the truth: closed request bodies, every answer a route can give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from waymark.app import create_app
from waymark.features.accounts.passwords import PasswordPolicy
from waymark.settings import LogSettings, Settings


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The schema of an app that is never started (building one opens no connection)."""
    var_dir: Path = tmp_path_factory.mktemp("openapi")
    settings = Settings(var_dir=var_dir, environment="test", log=LogSettings(level="error"))
    return create_app(settings).openapi_schema.to_schema()  # type: ignore[no-any-return]


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def component(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    return schema["components"]["schemas"][ref.removeprefix("#/components/schemas/")]  # type: ignore[no-any-return]


def test_request_bodies_say_they_refuse_unknown_fields(schema: dict[str, Any]) -> None:
    bodies = [
        (method, path, operation["requestBody"]["content"]["application/json"]["schema"])
        for method, path, operation in operations(schema)
        if "requestBody" in operation and path != "/api/v1/roadmaps/validate"  # a document
    ]
    assert len(bodies) >= 11
    for method, path, body in bodies:
        # A body the route reads as bytes (the import) has its schema inline.
        described = component(schema, body["$ref"]) if "$ref" in body else body
        assert described["additionalProperties"] is False, (method, path)
    # Answers stay open: a client must accept fields added later.
    assert "additionalProperties" not in component(schema, "#/components/schemas/Me")


def test_new_passwords_show_the_policys_bounds_and_current_ones_say_they_are_loose(
    schema: dict[str, Any],
) -> None:
    policy = PasswordPolicy()
    new = {
        ("RegisterRequest", "password"),
        ("VerifyEmailRequest", "password"),
        ("ResetPasswordRequest", "new_password"),
        ("ChangePasswordRequest", "new_password"),
    }
    current = {
        ("LoginRequest", "password"),
        ("ChangePasswordRequest", "current_password"),
        ("ChangeEmailRequest", "password"),
        ("DeleteAccountRequest", "password"),
        ("TotpConfirm", "password"),
    }
    found = {
        (name, field): spec
        for name, body in schema["components"]["schemas"].items()
        for field, spec in body.get("properties", {}).items()
        if "password" in field
    }
    assert set(found) == new | current
    for key in new:
        assert (found[key]["minLength"], found[key]["maxLength"]) == (
            policy.min_length,
            policy.max_length,
        ), key
    for key in current:
        assert found[key]["minLength"] == 1, key
        assert "never checked against today's policy" in found[key]["description"], key


CONSTRAINTS = {"minimum", "maximum", "minLength", "maxLength", "pattern", "enum"}


def test_every_error_answer_is_documented_as_a_problem(schema: dict[str, Any]) -> None:
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (
                    method,
                    path,
                    status,
                )


def test_every_route_documents_the_answers_its_shape_implies(schema: dict[str, Any]) -> None:
    """What the HTTP layer answers for any route of a given shape: a route with a body can
    get a malformed, too large, wrongly typed or invalid one; a route with constrained
    parameters, invalid ones; a route with an id in its path, one that does not exist.
    (Answers that depend on what the handler does are checked by the fuzz test, which
    records what every route actually answers.)"""
    missing = []
    for method, path, operation in operations(schema):
        documented = set(operation["responses"])
        expected = set()
        if "requestBody" in operation:
            expected |= {"400", "413", "415", "422"}
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            expected.add("404")
        if any(CONSTRAINTS & set(p["schema"]) for p in parameters):
            expected.add("422")
        if expected - documented:
            missing.append((method, path, sorted(expected - documented)))
    assert missing == []


def test_every_reference_names_a_component(schema: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert "#/components/schemas/ExportedLog" in refs  # the import's inline body refers to it
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        component(schema, ref)
