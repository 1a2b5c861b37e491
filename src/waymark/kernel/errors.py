"""Errors that carry their own HTTP status, stable code and title.

Services raise these; one handler in `transport.http.problems` renders them as RFC 9457
problem+json. The `code` is part of the API contract: clients match on it, never on `title`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One failing input: where (`field`, a dotted/indexed path) and why."""

    field: str
    message: str


class WaymarkError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal server error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(WaymarkError):
    status = 400
    code = "bad-request"
    title = "Bad request"


class MalformedBody(WaymarkError):
    status = 400
    code = "malformed-body"
    title = "The request body could not be parsed"


class NotFound(WaymarkError):
    status = 404
    code = "not-found"
    title = "Not found"


class MethodNotAllowed(WaymarkError):
    status = 405
    code = "method-not-allowed"
    title = "Method not allowed"


class Conflict(WaymarkError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(WaymarkError):
    """`If-Match` named a version that is no longer the current one: reread, then retry."""

    status = 412
    code = "precondition-failed"
    title = "The resource changed since you read it"


class PayloadTooLarge(WaymarkError):
    status = 413
    code = "payload-too-large"
    title = "Request body too large"


class UnsupportedMediaType(WaymarkError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(WaymarkError):
    status = 422
    code = "validation-failed"
    title = "Validation failed"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotAuthenticated(WaymarkError):
    """No credentials, or none that still work: every authenticated route can answer it."""

    status = 401
    code = "not-authenticated"
    title = "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers = {"www-authenticate": 'Bearer realm="waymark"'}


class CsrfFailed(WaymarkError):
    """A state change authenticated by the session cookie, without the session's CSRF token:
    every cookie-authenticated route that changes state can answer it."""

    status = 403
    code = "csrf-failed"
    title = "Missing or wrong X-CSRF-Token for a cookie-authenticated change"


class Forbidden(WaymarkError):
    """The caller is known and may see the thing, but not do this to it (`kernel.authz`)."""

    status = 403
    code = "forbidden"
    title = "Not allowed"


class StepUpRequired(WaymarkError):
    """A sensitive action (password or email change, turning MFA off, deleting the account,
    handing a team over) on an account with MFA on, without a second factor proved in the
    last few minutes: prove one (`POST /api/v1/auth/mfa/step-up`), then retry."""

    status = 403
    code = "step-up-required"
    title = "Confirm it is you with your second factor first"


class RateLimited(WaymarkError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(WaymarkError):
    """A backing service (database, Redis, SMTP) is down or saturated: try again soon."""

    status = 503
    code = "service-unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["retry-after"] = str(retry_after)
