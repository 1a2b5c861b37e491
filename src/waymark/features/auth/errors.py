"""Business errors of authentication, each with its stable code."""

from __future__ import annotations

import uuid

from waymark.kernel.errors import WaymarkError


class InvalidRefreshToken(WaymarkError):
    """A refresh token that is unknown, expired, revoked, or was used already.

    One status, code and title whatever the reason, so a guesser learns nothing."""

    status = 401
    code = "invalid-token"
    title = "Invalid, expired or revoked refresh token"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'  # RFC 6750


class RefreshReused(InvalidRefreshToken):
    """A rotated refresh token came back after the grace window: its family is revoked."""

    def __init__(self, user_id: uuid.UUID, family_id: str) -> None:
        super().__init__("refresh token reused; family revoked")
        self.user_id = user_id
        self.family_id = family_id


class UnknownProvider(WaymarkError):
    """No sign-in provider of that name is on in this deployment."""

    status = 404
    code = "unknown-provider"
    title = "No such sign-in provider here"


class StrategyDisabled(WaymarkError):
    """A way in that this deployment has turned off (`auth.strategies`)."""

    status = 403
    code = "strategy-disabled"
    title = "This way of signing in is turned off here"


class SignInFailed(WaymarkError):
    """The answer from the provider did not prove who came back: a state that is not this
    browser's, an attempt used or expired, a code the provider refused, an ID token that
    fails validation. One code whatever the reason; the reason is logged, not told."""

    status = 401
    code = "external-sign-in-failed"
    title = "Signing in with the other site failed; start again"


class ConfirmByMail(WaymarkError):
    """An identity nobody linked, whose verified address an account here has: never linked
    silently. A single-use link went to that address; following it, signed in as that
    account, links the identity."""

    status = 403
    code = "identity-confirm-by-mail"
    title = "Confirm by mail: we sent a link to this address's account to link this identity"


class LinkConfirmationInvalid(WaymarkError):
    """The mailed link is unknown, used, expired, or for another account."""

    status = 400
    code = "link-confirmation-invalid"
    title = "This link is not valid (used, expired, or for another account)"


class IdentityNotLinked(WaymarkError):
    """An identity nobody linked: it signs in to no account, even one whose address it
    shares (never linked by email alone). Sign in another way and link it from settings."""

    status = 403
    code = "identity-not-linked"
    title = "This identity is not linked to an account: sign in, then link it in settings"


class IdentityTaken(WaymarkError):
    status = 409
    code = "identity-linked-elsewhere"
    title = "This identity is linked to another account"


class ReauthenticatedAsAnother(WaymarkError):
    """A re-authentication through another site came back with an identity not linked to
    the account signed in (another account's, or nobody's)."""

    status = 403
    code = "reauth-identity-not-linked"
    title = "That identity is not linked to your account"


class SignInDenied(WaymarkError):
    """The deployment's `sign_in` callback refused this sign-in."""

    status = 403
    code = "sign-in-denied"
    title = "Signing in was refused"


class LinkDenied(WaymarkError):
    """The deployment's `link` callback refused to link this identity to this account."""

    status = 403
    code = "link-denied"
    title = "Linking this identity was refused"


class LastWayIn(WaymarkError):
    status = 409
    code = "last-way-in"
    title = "This is your last way to sign in: set a password or link another first"


class SecondFactorRefused(WaymarkError):
    """A code (authenticator app, recovery, mailed) that is wrong, used already, or from a
    step accepted before. One code whatever the reason."""

    status = 401
    code = "mfa-code-invalid"
    title = "That code is not valid"


class ChallengeEnded(WaymarkError):
    """A sign-in challenge that is unknown, expired, used, or ended by 5 wrong codes: the
    first factor must be proved again."""

    status = 401
    code = "mfa-challenge-ended"
    title = "This sign-in has ended: sign in again"


class MfaAlreadyOn(WaymarkError):
    status = 409
    code = "mfa-already-on"
    title = "Two-step verification is on already: turn it off first to enrol again"


class MfaNotOn(WaymarkError):
    status = 409
    code = "mfa-not-on"
    title = "Two-step verification is not on for this account"


class NoEnrolment(WaymarkError):
    status = 409
    code = "mfa-enrolment-not-started"
    title = "Start the enrolment first: there is no secret to confirm"


class EmailCodesOff(WaymarkError):
    status = 409
    code = "mfa-email-off"
    title = "Codes by mail are not on for this account"


class FactorDisabled(WaymarkError):
    """A second factor this deployment has turned off (`auth.factors`): not offered, not
    enrolled, not accepted as an answer. 403, as a way in turned off (`strategy-disabled`)."""

    status = 403
    code = "factor-disabled"
    title = "This second factor is turned off here"


class NoFactorOn(WaymarkError):
    """An account with MFA on whose every factor this deployment has turned off since: its
    sign-in is refused (never let through on one factor) until an operator turns one of
    them on again."""

    status = 403
    code = "mfa-factors-off"
    title = "Every second factor of this account is turned off here: ask the site's operator"


class PasskeyRefused(WaymarkError):
    """A passkey ceremony that does not check out: an unknown, expired or already answered
    ceremony, another origin or relying party, a challenge not this ceremony's, no user
    verification, a bad signature, a credential not registered here. One code whatever the
    reason; the reason is logged, not told."""

    status = 401
    code = "passkey-refused"
    title = "The passkey was not accepted; try again"


class PasskeyCounterRegressed(PasskeyRefused):
    """A correctly signed assertion whose signature counter did not go up: the key may have
    been copied. Refused, and written to the account's activity."""

    code = "passkey-counter-regressed"
    title = "This passkey's counter went back: it may have been copied; use another way in"

    def __init__(self, *, stored: int, presented: int) -> None:
        super().__init__(f"signature counter {presented} after {stored}")
        self.stored = stored
        self.presented = presented


class PasskeyExists(WaymarkError):
    status = 409
    code = "passkey-exists"
    title = "This passkey is registered already"
