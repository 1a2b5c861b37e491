"""Business errors of accounts and authentication, each with its stable code."""

from __future__ import annotations

from waymark.kernel.errors import WaymarkError


class InvalidCredentials(WaymarkError):
    """Unknown email, wrong password and disabled account look the same from outside."""

    status = 401
    code = "invalid-credentials"
    title = "Email or password is wrong"


class EmailNotVerified(WaymarkError):
    status = 403
    code = "email-not-verified"
    title = "Confirm your email address first"


class WrongPassword(WaymarkError):
    """The current password, asked again before a sensitive change, did not match."""

    status = 403
    code = "wrong-password"
    title = "The current password is wrong"


class InvalidEmailToken(WaymarkError):
    status = 400
    code = "invalid-email-token"
    title = "The link or code is invalid, used or expired"


class NotAuthenticated(WaymarkError):
    status = 401
    code = "not-authenticated"
    title = "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers = {"www-authenticate": 'Bearer realm="waymark"'}


class CsrfFailed(WaymarkError):
    status = 403
    code = "csrf-failed"
    title = "Missing or wrong X-CSRF-Token for a cookie-authenticated change"


class RateLimited(WaymarkError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"
