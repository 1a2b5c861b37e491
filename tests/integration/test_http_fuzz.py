"""Every route of the OpenAPI schema, sent what breaks parsers and databases.

The routes come from `app.openapi_schema`, so a new route is fuzzed without anyone adding it
here. Each gets bodies that are not UTF-8, nested far too deep, carry numbers past every
range, NULs, surrogates, the wrong shape; query and path values past int64, percent-encoded
garbage, overlong text; hostile `Authorization` headers; and it gets them anonymously and
as a signed-in user (bearer token and browser session), so bodies get past the
authentication check. (The hostile TOML goes whole to the routes that take TOML; a route
that refuses TOML on its content type, 415 from the header alone, is sent one of them.)
Then every route is sent a valid body while the rate limiter refuses everything, and while
it is down.

What must hold: never a 5xx (but the 503 of a limiter that is down), every 4xx a
problem+json, HEAD never a body, and every status a route answered is in its OpenAPI
responses: the schema cannot drift from what the routes do.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.auth_helpers import PASSWORD, bearer, login_tokens
from tests.conftest import BACKEND_ROADMAP
from waymark.kernel.decoding import MAX_NESTING
from waymark.kernel.ports import RateLimitDecision

Client = AsyncTestClient[Litestar]
pytestmark = pytest.mark.usefixtures("backend_roadmap", "unthrottled")


PROBLEM = "application/problem+json"
NO_BODY_METHODS = {"GET", "HEAD", "OPTIONS"}
DEEP = 1000
HUGE_DIGITS = "9" * 5000


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any] = field(hash=False, compare=False)

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return self.spec.get("parameters", [])  # type: ignore[no-any-return]

    @property
    def body_types(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))


def operations(schema: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, spec)
        for path, item in schema["paths"].items()
        for method, spec in item.items()
    ]


# -- A valid value for a schema, so that a request can get past validation -------------------

_CANDIDATES = ("fuzz@example.org", "A" * 16, "backend", "https://hooks.example.org/fuzz")
"""An address, a token, a slug, a URL."""


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    if "$ref" in spec:
        return example(schema["components"]["schemas"][spec["$ref"].rsplit("/", 1)[1]], schema)
    if spec.get("oneOf"):  # `X | None`: X, with the constraints Litestar puts beside oneOf
        first = next(s for s in spec["oneOf"] if s.get("type") != "null")
        return example({**spec, "oneOf": None, **first}, schema)
    if "enum" in spec:
        return spec["enum"][0]
    kind = spec.get("type")
    if kind == "object":
        return {k: example(v, schema) for k, v in spec.get("properties", {}).items()}
    if kind == "string":
        low, high = spec.get("minLength", 0), spec.get("maxLength", 10_000)
        pattern = re.compile(spec.get("pattern", ".*"))
        return next(
            c
            for c in (*_CANDIDATES, "A" * max(low, 1))
            if low <= len(c) <= high and pattern.search(c)
        )
    if kind == "boolean":
        return True
    if kind == "integer":
        return spec.get("minimum", 1)
    return None


# -- What is sent --------------------------------------------------------------------------


def json_bodies(valid: Any) -> Iterator[tuple[str, bytes]]:
    """(name, body) pairs: broken bytes, then well-formed JSON of every wrong kind."""
    fields = list(valid) if isinstance(valid, dict) and valid else ["field"]

    def each(raw: bytes) -> bytes:
        return b"{" + b", ".join(b'"%s": %s' % (f.encode(), raw) for f in fields) + b"}"

    yield "invalid UTF-8", each(b'"\xff\xfe"')
    yield "overlong UTF-8", each(b'"\xc0\xaf"')
    yield "UTF-8-encoded surrogate", each(b'"\xed\xa0\x80"')
    yield "lone surrogate escape", each(b'"\\ud800"')
    yield "nested 1,000 deep", each(b"[" * DEEP + b"]" * DEEP)
    yield "objects 1,000 deep", b'{"a": ' * DEEP + b"1" + b"}" * DEEP
    yield "just past the cap", b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1)
    yield "at the cap", b"[" * MAX_NESTING + b"]" * MAX_NESTING
    yield "unclosed", b"[{" * 20_000
    yield "huge integer", each(HUGE_DIGITS.encode())
    yield "past int64", each(str(2**63).encode())
    yield "past float", each(b"1e400")
    yield "NUL", each(b'"a\\u0000b"')
    yield "control characters", each(b'"\\u0001\\u001f\\u007f"')
    yield "long text", each(b'"' + b"x" * 5000 + b'"')
    yield "null fields", each(b"null")
    yield "objects in fields", each(b'{"$gt": ""}')
    yield "broken", b'{"a": '
    yield "byte order mark", b"\xef\xbb\xbf{}"
    yield "empty", b""
    yield "null", b"null"
    yield "array", b"[]"
    yield "empty object", b"{}"
    yield "duplicate keys", each(b'"a"')[:-1] + b', "%s": "b"}' % fields[0].encode()
    yield "unknown field", msgspec.json.encode({**(valid or {}), "is_admin": True})
    yield "too large", b'{"a": "' + b"x" * (300 * 1024) + b'"}'


TOML_BODIES = {
    "TOML nested 1,000 deep": b"slug = " + b"[" * DEEP + b"]" * DEEP,
    "TOML inline tables 1,000 deep": b"slug = " + b"{a = " * DEEP + b"1" + b"}" * DEEP,
    "TOML key of 20,000 parts": b"a" + b".a" * 20_000 + b" = 1",
    "TOML table of 20,000 parts": b"[a" + b".a" * 20_000 + b"]",
    "TOML huge integer": b"format = " + HUGE_DIGITS.encode(),
    "TOML invalid UTF-8": b'slug = "\xff"',
    "TOML bad date": b"slug = 1979-02-30",
    "TOML unterminated": b'slug = """' + b"x" * 1000,
    "TOML NUL escape": b'slug = "a\\u0000b"',
}

PARAMETER_VALUES = [
    str(2**63),
    str(-(2**63) - 1),
    "1" + "0" * 30,
    HUGE_DIGITS,
    "1e400",
    "-1",
    "0",
    "",
    "abc",
    "%00",
    "%FF%FE",
    "%ED%A0%80",
    "%F0%9F%98%80",
    "..%2F..%2Fetc%2Fpasswd",
    "%5B" * 100,
    "x" * 3000,
]

HOSTILE_TOKENS = [
    "Bearer " + "A" * 5000,
    "Bearer "
    + ".".join(base64.urlsafe_b64encode(b"[" * DEEP + b"]" * DEEP).decode() for _ in "xyz"),
    "Bearer " + base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').decode() + "..",
    "Bearer \xff",
    "Basic " + base64.b64encode(b"a:b").decode(),
]


class Recorder:
    """Sends requests and keeps, per operation, every status it answered."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.allowed_5xx: set[int] = set()

    async def send(
        self,
        op: Operation,
        *,
        url: str | None = None,
        method: str | None = None,
        body: bytes | None = None,
        content_type: str | None = "application/json",
        headers: dict[str, str] | dict[str, bytes] | None = None,
        label: str = "",
    ) -> int:
        method = method or op.method
        sent: dict[str, str | bytes] = dict(headers or {})
        if body is not None and content_type:
            sent["content-type"] = content_type
        url = url or fill(op.template, {})
        response = await self.client.request(method, url, content=body, headers=sent)
        where = f"{method} {url[:120]} [{label}]"
        status = response.status_code
        assert status < 500 or status in self.allowed_5xx, (where, response.text[:500])
        if method == "HEAD":
            assert response.content == b"", where
        elif status >= 400:
            assert response.headers["content-type"] == PROBLEM, (where, response.text[:300])
            assert "Traceback" not in response.text, where
        if method == op.method:
            self.seen[(op.method, op.template)].add(status)
        return status


NOBODYS = "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b"  # a well-formed id nothing has
EXAMPLES = {
    "slug": "backend",
    "topic_id": "databases.redis",
    "session_ref": "s:unknown",
    "team_id": NOBODYS,
    "user_id": NOBODYS,
    "invite_id": NOBODYS,
    "notification_id": NOBODYS,
    "identity_id": NOBODYS,
    "passkey_id": NOBODYS,
    "webhook_id": NOBODYS,
    "delivery_id": NOBODYS,
}


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], EXAMPLES.get(m[1], "x")), template)


async def fuzz(
    recorder: Recorder, op: Operation, schema: dict[str, Any], auth: dict[str, str]
) -> None:
    """Every class of input this operation can take."""
    for parameter in op.parameters:
        name, place = parameter["name"], parameter["in"]
        for value in PARAMETER_VALUES:
            if place == "path":
                url = fill(op.template, {name: value or "%20"})
            else:
                url = f"{fill(op.template, {})}?{quote(name)}={value}"
            await recorder.send(op, url=url, headers=auth, label=f"{place} {name}")
    if op.method in NO_BODY_METHODS:
        await recorder.send(op, headers=auth)
        if op.method == "GET":
            await recorder.send(op, method="HEAD", headers=auth)
        return
    content = op.spec.get("requestBody", {}).get("content", {})
    body_schema = content.get("application/json", {}).get("schema")
    valid = example(body_schema, schema) if body_schema and "$ref" in body_schema else None
    for label, body in json_bodies(valid):
        await recorder.send(op, body=body, headers=auth, label=label)
    for label, body in TOML_BODIES.items():
        status = await recorder.send(
            op, body=body, content_type="application/toml", headers=auth, label=label
        )
        if status == 415 and "application/toml" not in op.body_types:
            break  # refused on its content type, a header: the other TOML bodies would be too
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        await recorder.send(
            op, body=b"a=b", content_type=content_type, headers=auth, label=content_type
        )
    await recorder.send(op, body=None, headers=auth, label="no body")
    await recorder.send(op, headers=auth, **valid_request(op, schema), label="valid")


def valid_request(op: Operation, schema: dict[str, Any]) -> dict[str, Any]:
    content = op.spec.get("requestBody", {}).get("content", {})
    body_schema = content.get("application/json", {}).get("schema")
    if body_schema and "$ref" in body_schema:
        return {"body": msgspec.json.encode(example(body_schema, schema))}
    if "application/toml" in content:
        return {"body": BACKEND_ROADMAP.read_bytes(), "content_type": "application/toml"}
    return {}


class _Denies:
    async def hit(
        self, key: str, *, limit: int, period: float, now: float, cost: int = 1
    ) -> RateLimitDecision:
        return RateLimitDecision(
            allowed=False, limit=limit, remaining=0, reset_after=60, retry_after=60
        )

    async def reset(self, key: str) -> None:
        pass


class _Down(_Denies):
    async def hit(
        self, key: str, *, limit: int, period: float, now: float, cost: int = 1
    ) -> RateLimitDecision:
        raise ConnectionError("the limiter's store is down")


async def session_cookie(client: Client, email: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "mode": "session"}
    )
    assert response.status_code == 200, response.text
    session = response.headers["set-cookie"].split(";", 1)[0]
    return {"cookie": session}  # no X-CSRF-Token: state changes must be refused


async def test_every_route_survives_hostile_input_and_documents_what_it_answers(
    app: Litestar, client: Client, signed_in: dict[str, str]
) -> None:
    schema = app.openapi_schema.to_schema()
    ops = operations(schema)
    assert len(ops) >= 20
    recorder = Recorder(client)
    me = await client.get("/api/v1/me", headers=signed_in)
    email = me.json()["email"]

    cookie = await session_cookie(client, email)
    throttle = app.state.container.throttle
    allows = throttle.limiter

    async def still_signed_in() -> dict[str, str]:
        # Fuzzing logout ends the session: sign in again (unthrottled) before the next route.
        nonlocal signed_in, cookie
        fuzzing, throttle.limiter = throttle.limiter, allows
        if (await client.get("/api/v1/me", headers=signed_in)).status_code != 200:
            signed_in = bearer(await login_tokens(client, email))
        if (await client.get("/api/v1/me", headers=cookie)).status_code != 200:
            cookie = await session_cookie(client, email)
        throttle.limiter = fuzzing
        return signed_in

    for op in ops:
        valid = valid_request(op, schema)
        await fuzz(recorder, op, schema, {})
        await fuzz(recorder, op, schema, await still_signed_in())
        for token in HOSTILE_TOKENS:
            auth = {"authorization": token.encode("latin-1")}
            await recorder.send(op, headers=auth, **valid, label=token[:20])
        await recorder.send(op, headers=cookie, **valid, label="session cookie, no CSRF token")
    for path in {op.template for op in ops}:
        response = await client.options(fill(path, {}))
        assert response.status_code == 204, path

    # The limiter refuses everything, then is down: every throttled route says so.
    recorder.allowed_5xx = {503}
    for limiter in (_Denies(), _Down()):
        throttle.limiter = limiter
        for op in ops:
            for auth in ({}, await still_signed_in()):
                label = type(limiter).__name__
                await recorder.send(op, headers=auth, **valid_request(op, schema), label=label)

    undocumented = {
        f"{method} {template}": sorted(map(str, statuses - set(map(int, spec["responses"]))))
        for (method, template), statuses in recorder.seen.items()
        for spec in [next(o.spec for o in ops if (o.method, o.template) == (method, template))]
        if statuses - set(map(int, spec["responses"]))
    }
    assert undocumented == {}
    answered = set().union(*recorder.seen.values())
    assert {400, 401, 403, 404, 413, 415, 422, 429, 503} <= answered
