"""What every page handler answers with: a page (a template, with the visitor and any cookie
they are due), or a redirect after a form (303, so a reload never posts it again)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from waymark.transport.http.identity import NO_STORE
from waymark.web.visitor import Visitor

NOTICES: Final = {
    "identity-linked": "The identity is linked: you can sign in with it from now on.",
    "identity-unlinked": "The identity is unlinked: it no longer signs you in.",
    "passkey-added": "The passkey is added: you can sign in with it from now on.",
    "passkey-renamed": "The passkey is renamed.",
    "passkey-removed": "The passkey is removed: it no longer signs you in.",
    "role-saved": "The role is saved; it counts from that account's next request.",
    "check-inbox": "Check your inbox: if the address can be used, a confirmation link is on "
    "its way. It works for 24 hours.",
    "reset-sent": "If the address has an account, a link to reset its password is on its "
    "way. It works for 30 minutes.",
    "email-confirmed": "Your address is confirmed and your password set. Sign in.",
    "email-changed": "Your new address is confirmed.",
    "password-reset": "Your password is reset, and every session was signed out. Sign in.",
    "password-changed": "Your password is changed.",
    "profile-saved": "Your profile is saved.",
    "email-change-sent": "A confirmation link is on its way to the new address; the change "
    "happens when you open it.",
    "session-ended": "That session is signed out.",
    "signed-out": "You are signed out.",
    "signed-out-everywhere": "Every session of your account is signed out.",
    "account-deleted": "Your account and its data are deleted.",
    "team-created": "Your team is created. Invite its members, and give it roadmaps to follow.",
    "team-saved": "The team's settings are saved.",
    "team-deleted": "The team is deleted.",
    "team-transferred": "The team has a new owner; you are one of its admins.",
    "team-left": "You left the team.",
    "team-joined": "Welcome to the team.",
    "role-changed": "The member's role is changed.",
    "member-removed": "The member is removed from the team.",
    "invite-sent": "The invite is on its way. Its link works for 7 days.",
    "invite-resent": "The invite is sent again, with a new link; the old one no longer works.",
    "invite-revoked": "The invite is revoked: its link no longer works.",
    "webhook-pinged": "A test ping is on its way; its delivery shows below.",
    "webhook-enabled": "The endpoint is on again; its count of failures starts over.",
    "webhook-disabled": "The endpoint is off: nothing is sent to it until it is on again.",
    "webhook-deleted": "The endpoint and its log are deleted.",
    "webhook-redelivered": "The delivery is on its way again; it shows below.",
    "invite-declined": "You turned the invite down.",
    "roadmap-assigned": "The team follows the roadmap.",
    "roadmap-unassigned": "The team no longer follows the roadmap.",
    "topics-hidden": "The team's hidden topics are saved.",
    "mfa-off": "Two-step verification is off: your password alone signs you in.",
    "mfa-on": "Two-step verification is on.",
    "mail-on": "Codes by mail are on: when signing in you may ask for one instead.",
    "mail-off": "Codes by mail are off.",
}
"""Messages a redirect can ask a page to show (`?notice=`): fixed texts, so a link can never
make a page say something of its own."""


def page(
    visitor: Visitor | None, template: str, *, status_code: int = 200, **context: Any
) -> Template:
    """A page of `template`; never cached (forms carry the visitor's CSRF token)."""
    return Template(
        template_name=template,
        context={"visitor": visitor, **context},
        status_code=status_code,
        cookies=list(visitor.cookies) if visitor else None,
        headers=NO_STORE,
    )


def redirect(visitor: Visitor, to: str, *, cookies: Iterable[Cookie] = ()) -> Redirect:
    """See Other, to a page of ours."""
    return Redirect(
        path=to,
        status_code=303,
        cookies=[*visitor.cookies, *cookies],
        headers=NO_STORE,
    )
