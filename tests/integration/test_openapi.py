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
        if "requestBody" in operation
    ]
    assert len(bodies) >= 11
    for method, path, body in bodies:
        assert component(schema, body["$ref"])["additionalProperties"] is False, (method, path)
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
