"""RFC 9457 problem+json for every error, with a stable `code` clients can match on.

One place maps what can go wrong (our `WaymarkError`s, Litestar's own HTTP exceptions, and
anything unexpected) to a response. Unexpected errors are logged with their traceback and
answered with a generic body that carries only the request id.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from waymark.kernel import errors
from waymark.kernel.context import current_request_id
from waymark.kernel.errors import FieldError, WaymarkError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:waymark:problem:"

log = structlog.get_logger(__name__)

_BY_STATUS: dict[int, type[WaymarkError]] = {
    cls.status: cls
    for cls in (
        errors.BadRequest,
        errors.NotFound,
        errors.MethodNotAllowed,
        errors.Conflict,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.ServiceUnavailable,
    )
}


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The problem+json body. `errors` lists failing fields for `validation-failed`."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    extra: dict[str, Any] | None = None


def problem_body(
    path: str,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    field_errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The problem+json bytes of an answer on `path` (the request id is the current one)."""
    return msgspec.json.encode(
        Problem(
            type=PROBLEM_TYPE_PREFIX + code,
            title=title,
            status=status,
            code=code,
            detail=detail,
            instance=path,
            request_id=current_request_id(),
            errors=field_errors,
            extra=extra or None,
        )
    )


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    field_errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    body = problem_body(
        request.url.path,
        status=status,
        code=code,
        title=title,
        detail=detail,
        field_errors=field_errors,
        extra=extra,
    )
    return Response(
        content=body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def handle_waymark_error(request: Request[Any, Any, Any], exc: WaymarkError) -> Response[bytes]:
    status, headers, body = problem_answer(exc, request.url.path)
    media_type = headers.pop("content-type")
    return Response(
        content=body, status_code=status, media_type=media_type, headers=headers or None
    )


def problem_answer(exc: WaymarkError, path: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and problem+json body of `exc` on `path`: what a route raising it
    answers, for the layers that answer before routing too (`transport/http/fast.py`)."""
    if exc.status >= 500:
        log.warning("service_error", code=exc.code, detail=exc.detail)
    body = problem_body(
        path,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        field_errors=getattr(exc, "errors", None),
        extra=exc.extra,
    )
    return exc.status, {"content-type": PROBLEM_MEDIA_TYPE, **exc.headers}, body


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own errors: routing, parameter validation, body size, parsing."""
    if isinstance(exc, ValidationException):
        return _validation_problem(request, exc)
    if exc.status_code >= 500:
        return handle_internal_error(request, exc)
    known = _BY_STATUS.get(exc.status_code)
    code, title = (known.code, known.title) if known else ("http-error", "HTTP error")
    detail = exc.detail if exc.detail and exc.detail != title else None
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=exc.headers or None,
    )


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("unhandled_error", exc_info=exc, path=request.url.path, method=request.method)
    return problem_response(
        request, status=500, code=errors.WaymarkError.code, title=errors.WaymarkError.title
    )


def _validation_problem(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[bytes]:
    details = exc.extra if isinstance(exc.extra, list) else []
    field_errors = [
        FieldError(
            field=".".join(_label(part) for part in (item.get("source"), item.get("key")) if part),
            message=str(item.get("message", "invalid")),
        )
        for item in details
        if isinstance(item, dict)
    ] or [FieldError(field="$", message=exc.detail or "invalid")]
    return problem_response(
        request,
        status=errors.ValidationFailed.status,
        code=errors.ValidationFailed.code,
        title=errors.ValidationFailed.title,
        detail="; ".join(f"{e.field}: {e.message}" for e in field_errors),
        field_errors=field_errors,
    )


def _label(part: Any) -> str:
    """`ParamType.QUERY` -> `query`; plain strings as they are."""
    return str(getattr(part, "value", part))


def documented_problems(*errors: type[WaymarkError]) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the errors a route can answer, each status listing its codes."""
    by_status: dict[int, list[type[WaymarkError]]] = {}
    for error in errors:
        by_status.setdefault(error.status, []).append(error)
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
            description="; ".join(f"`{e.code}`: {e.title}" for e in group),
        )
        for status, group in sorted(by_status.items())
    }


BAD_BODY: tuple[type[WaymarkError], ...] = (
    errors.MalformedBody,
    errors.ValidationFailed,
    errors.UnsupportedMediaType,
    errors.PayloadTooLarge,
)


def exception_handlers() -> ExceptionHandlersMap:
    return {
        WaymarkError: handle_waymark_error,
        HTTPException: handle_http_exception,
        Exception: handle_internal_error,
    }
