"""Bad input always gets a documented problem+json, never a 500 and never a stack trace."""

from __future__ import annotations

import math
import re

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from waymark.kernel.decoding import MAX_NESTING
from waymark.transport.http.params import INT64_MAX, INT64_MIN

Client = AsyncTestClient[Litestar]
VALIDATE = "/api/v1/roadmaps/validate"
JSON = {"content-type": "application/json"}


def _problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"] == f"urn:waymark:problem:{code}"
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("raw", [b'{"slug": ', b"{]", b"not json", b"\xff\xfe\x00", b""])
async def test_malformed_json(client: Client, raw: bytes) -> None:
    _problem(await client.post(VALIDATE, content=raw, headers=JSON), 400, "malformed-body")


IDS = {  # path parameters that must be well formed to reach the body
    "team_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "user_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "invite_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "passkey_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "webhook_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "delivery_id": "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
    "token": "no-such-invite-token-0123456789",
}
UNPARSEABLE_JSON = {
    "invalid UTF-8 in a string": b'{"email": "\xff\xfe", "password": "\xc3("}',
    "a UTF-8-encoded surrogate": b'{"email": "\xed\xa0\x80"}',
    "1,000 levels deep": b'{"email": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    f"{MAX_NESTING + 1} levels deep": b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1),
    "unclosed": b"[" * 60_000,
    "broken syntax": b'{"email": ',
    "a number past every range": b'{"email": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("body", UNPARSEABLE_JSON.values(), ids=UNPARSEABLE_JSON.keys())
async def test_every_json_body_route_answers_malformed_body(
    app: Litestar, client: Client, signed_in: dict[str, str], body: bytes
) -> None:
    """One decoding path: the same 400 on every route that takes JSON, typed or not (signed
    in: the import authenticates before it reads its body)."""
    paths = app.openapi_schema.to_schema()["paths"]
    routes = [
        (method, path)
        for path, item in paths.items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(routes) >= 11
    for method, template in [*routes, ("post", VALIDATE)]:
        path = re.sub(r"\{(\w+)\}", lambda m: IDS.get(m[1], m[0]), template)
        response = await client.request(method, path, content=body, headers=JSON | signed_in)
        _problem(response, 400, "malformed-body")


async def test_wrong_types_name_the_field(client: Client) -> None:
    body = {"slug": "x", "title": 5, "sections": []}
    problem = _problem(
        await client.post(VALIDATE, content=msgspec.json.encode(body), headers=JSON),
        422,
        "validation-failed",
    )
    assert problem["errors"] == [{"field": "title", "message": "Expected `str`, got `int`"}]


async def test_unknown_fields_are_refused(client: Client) -> None:
    section = {"id": "s", "title": "S", "topics": [{"id": "s.t", "title": "T"}]}
    body = {"slug": "x", "title": "X", "sections": [section], "is_admin": True}
    problem = _problem(
        await client.post(VALIDATE, content=msgspec.json.encode(body), headers=JSON),
        422,
        "validation-failed",
    )
    assert "unknown field `is_admin`" in problem["errors"][0]["message"]


async def test_huge_bodies_are_refused_before_parsing(client: Client) -> None:
    huge = b'{"slug": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    _problem(await client.post(VALIDATE, content=huge, headers=JSON), 413, "payload-too-large")


async def test_json_bodies_are_capped_at_64_kib_with_room_for_the_largest_real_one(
    client: Client,
) -> None:
    def escaped(characters: int) -> str:
        return '"' + "\\u00e9" * characters + '"'

    largest = f'{{"current_password": {escaped(4096)}, "new_password": {escaped(1024)}}}'
    assert 30_000 < len(largest) < 32 * 1024
    response = await client.post("/api/v1/auth/password/change", content=largest, headers=JSON)
    _problem(response, 401, "not-authenticated")  # read and valid: only then the caller
    over = b'{"email": "a@example.org", "password": "' + b"x" * (64 * 1024) + b'"}'
    response = await client.post("/api/v1/auth/login", content=over, headers=JSON)
    _problem(response, 413, "payload-too-large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
async def test_unsupported_media_type(client: Client, content_type: str) -> None:
    response = await client.post(VALIDATE, content=b"{}", headers={"content-type": content_type})
    _problem(response, 415, "unsupported-media-type")


async def test_missing_content_type_is_unsupported(client: Client) -> None:
    response = await client.post(VALIDATE, content=b"{}", headers={"content-type": ""})
    _problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1), "1" + "0" * 30])
async def test_integers_past_int64_are_validation_problems(
    client: Client, signed_in: dict[str, str], value: str
) -> None:
    response = await client.get("/api/v1/me/audit", params={"before": value}, headers=signed_in)
    problem = _problem(response, 422, "validation-failed")
    assert problem["errors"][0]["field"] == "query.before"
    largest = await client.get("/api/v1/me/audit?before=9223372036854775807", headers=signed_in)
    assert largest.status_code == 200, largest.text


def test_every_integer_parameter_is_bounded_to_int64(app: Litestar) -> None:
    """A new route with a bare `int` parameter fails here: declare it with params.int64()."""
    checked = 0
    for path, item in app.openapi_schema.to_schema()["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                types = {schema.get("type")} | {s.get("type") for s in schema.get("oneOf", [])}
                if "integer" in types:
                    where = (method, path, parameter["name"])
                    assert schema.get("minimum", -math.inf) >= INT64_MIN, where
                    assert schema.get("maximum", math.inf) <= INT64_MAX, where
                    checked += 1
    assert checked >= 3  # two page sizes and `before`


async def test_wrong_method_lists_the_allowed_ones(client: Client) -> None:
    response = await client.delete("/api/v1/roadmaps/backend")
    _problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


async def test_unknown_route(client: Client) -> None:
    _problem(await client.get("/api/v2/anything"), 404, "not-found")


async def test_unexpected_errors_are_a_generic_500_with_only_the_request_id(
    app: Litestar, client: Client
) -> None:
    # Under /api/: a page's 500 is a page (tests/integration/test_web_pages.py).
    @get("/api/v1/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("secret detail: password=hunter2 SELECT * FROM users")

    app.register(boom)
    response = await client.get("/api/v1/boom", headers={"x-request-id": "trace-me-1"})
    problem = _problem(response, 500, "internal")
    assert problem["request_id"] == "trace-me-1"
    assert set(problem) == {"type", "title", "status", "code", "instance", "request_id"}
    assert "hunter2" not in response.text
    assert "SELECT" not in response.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.usefixtures("unthrottled")
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        json_values.map(msgspec.json.encode),
        st.binary(max_size=200),
        st.fixed_dictionaries(
            {"slug": st.text(max_size=10), "title": json_values, "sections": json_values}
        ).map(msgspec.json.encode),
    ),
    content_type=st.sampled_from(["application/json", "application/toml", "text/plain"]),
)
async def test_fuzzed_bodies_never_cause_a_server_error(
    client: Client, body: bytes, content_type: str
) -> None:
    response = await client.post(VALIDATE, content=body, headers={"content-type": content_type})
    assert response.status_code in {200, 400, 415, 422}, response.text
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30),
    query=st.text(max_size=30),
)
async def test_fuzzed_paths_and_queries_never_cause_a_server_error(
    client: Client, path: str, query: str
) -> None:
    from urllib.parse import quote

    for url in (
        f"/api/v1/roadmaps/{quote(path, safe='')}",
        f"/api/v1/roadmaps/backend/topics/{quote(path, safe='')}",
        f"/api/v1/roadmaps?cursor={quote(query, safe='')}&limit=5",
    ):
        response = await client.get(url)
        assert response.status_code in {200, 404, 422}, (url, response.text)
