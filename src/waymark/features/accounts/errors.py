"""Business errors of accounts, each with its stable code."""

from __future__ import annotations

from waymark.kernel.errors import RateLimited, ServiceUnavailable, WaymarkError


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


class ReauthenticationRequired(WaymarkError):
    """No password was given and the session did not re-authenticate through a linked
    provider in the last minutes (an account made through another site has no password)."""

    status = 403
    code = "reauthentication-required"
    title = "Enter your password, or confirm it is you through a linked account"


class InvalidEmailToken(WaymarkError):
    status = 400
    code = "invalid-email-token"
    title = "The link or code is invalid, used or expired"


REAUTHENTICATION: tuple[type[WaymarkError], ...] = (
    WrongPassword,
    ReauthenticationRequired,
    RateLimited,
    ServiceUnavailable,
)
"""What a route that asks for the current password again can also answer (documented)."""
