"""Account settings: profile and time zone, address, password, sessions (each can be signed
out), the audit log, the account's data (export it, import an export), and deleting the
account. One page; each form posts to its own path, calls one service and comes back (or
shows the page again, saying what is wrong).

The export is the API's own `GET /api/v1/me/export`, a plain link (the session cookie
authenticates a GET); an import is a file upload handed, as bytes, to the same use case as
the API's `POST /api/v1/me/import` (`Portability.import_document`)."""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.handlers import HTTPRouteHandler

from waymark.features.accounts.errors import ReauthenticationRequired
from waymark.features.accounts.schemas import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    DeleteAccountRequest,
    ProfilePatch,
)
from waymark.features.accounts.service import Accounts
from waymark.features.auth.errors import LastWayIn
from waymark.features.auth.federation import Federation
from waymark.features.auth.passkeys import Passkeys
from waymark.features.auth.schemas import PasskeyRename
from waymark.features.auth.service import AuthService
from waymark.features.portability.schemas import MAX_IMPORT_BYTES
from waymark.features.portability.service import Portability
from waymark.kernel.errors import (
    FieldError,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    StepUpRequired,
    ValidationFailed,
    WaymarkError,
)
from waymark.kernel.ports import StepUp, no_step_up
from waymark.transport.http.identity import cleared_session_cookie, session_cookie
from waymark.transport.http.params import int64
from waymark.web import forms
from waymark.web.account_pages import submit
from waymark.web.rendering import page, redirect
from waymark.web.visitor import Browsing, Visitor

AUDIT_PAGE = 20
IMPORT_FORM_BYTES = MAX_IMPORT_BYTES + 64 * 1024
"""The import form's body: the largest export, and the multipart parts around it."""
Before = Annotated[int | None, int64(ge=1, description="`id` of the last event seen.")]


def settings_pages(
    accounts: Accounts,
    auth: AuthService,
    portability: Portability,
    federation: Federation,
    passkeys: Passkeys,
    step_up: StepUp = no_step_up,
) -> list[HTTPRouteHandler]:
    clock = auth.sessions.clock
    time_zones = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})

    async def context(visitor: Visitor, before: int | None = None) -> dict[str, Any]:
        principal = visitor.signed_in()
        return {
            "sessions": await auth.list_sessions(principal),
            "identities": await federation.identities(principal),
            "has_password": await accounts.credentials.has_password(principal.account_id),
            "passkey_list": await passkeys.list(principal),
            "audit": await accounts.audit.page(
                principal.account_id, before=before, limit=AUDIT_PAGE
            ),
            "audit_page": AUDIT_PAGE,
            "time_zones": time_zones,
            "forms": {},
        }

    async def settings_form(
        visitor: Visitor,
        action: Callable[[], Awaitable[Response[Any]]],
        form_name: str,
        fields: Mapping[str, str] | None = None,
        also: tuple[type[WaymarkError], ...] = (),
    ) -> Response[Any]:
        """Run a settings form; if it is refused, the page again, that form saying why."""

        async def again() -> dict[str, Any]:
            return {**await context(visitor), "refused": form_name}

        return await submit(
            visitor,
            action,
            "settings.html",
            fields=fields,
            more=again,
            also=(*also, StepUpRequired, ReauthenticationRequired),
        )

    @get("/settings")
    async def settings(visitor: Browsing, before: Before = None) -> Response[Any]:
        return page(visitor, "settings.html", **await context(visitor, before))

    @post("/settings/profile")
    async def save_profile(visitor: Browsing) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> Response[Any]:
            body = forms.decode(
                ProfilePatch, visitor.form, checkboxes=("team_reminders", "weekly_digest")
            )
            await accounts.profiles.update(account.id, body.changes())
            return redirect(visitor, "/settings?notice=profile-saved")

        return await settings_form(visitor, action, "profile")

    @post("/settings/email")
    async def change_email(visitor: Browsing) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> Response[Any]:
            body = forms.decode(ChangeEmailRequest, visitor.form)
            await step_up(visitor.signed_in())
            await accounts.profiles.request_email_change(
                account.id,
                password=body.password,
                new_email=body.new_email,
                client=visitor.client,
                session_key=visitor.signed_in().session_key,
            )
            return redirect(visitor, "/settings?notice=email-change-sent")

        fields = {"wrong-password": "password"}
        return await settings_form(visitor, action, "email", fields)

    @post("/settings/password")
    async def change_password(visitor: Browsing) -> Response[Any]:
        principal = visitor.signed_in()

        async def action() -> Response[Any]:
            body = forms.decode(
                ChangePasswordRequest, visitor.form, checkboxes=("end_other_sessions",)
            )
            await step_up(principal)
            renewed = await auth.change_password(
                principal,
                current=body.current_password,
                new=body.new_password,
                end_other_sessions=body.end_other_sessions,
                client=visitor.client,
            )
            # Re-authenticated: the session has a new id (and CSRF token) from now on.
            cookies = (
                [
                    session_cookie(
                        renewed.id,
                        expires_at=renewed.record.absolute_expires_at,
                        now=clock.time(),
                    )
                ]
                if renewed
                else []
            )
            return redirect(visitor, "/settings?notice=password-changed", cookies=cookies)

        fields = {"password": "new_password", "wrong-password": "current_password"}
        return await settings_form(visitor, action, "password", fields)

    @post("/settings/sessions/end")
    async def end_session(visitor: Browsing) -> Response[Any]:
        principal = visitor.signed_in()
        ref = visitor.form.get("session", "")
        if not await auth.end_session(principal, ref, client=visitor.client):
            raise NotFound("no such session of yours")
        if ref == principal.session_ref:
            return redirect(visitor, "/login?notice=signed-out", cookies=[cleared_session_cookie()])
        return redirect(visitor, "/settings?notice=session-ended#sessions")

    @post("/settings/sessions/end-all")
    async def end_all_sessions(visitor: Browsing) -> Response[Any]:
        await auth.logout_everywhere(visitor.signed_in(), client=visitor.client)
        return redirect(
            visitor, "/login?notice=signed-out-everywhere", cookies=[cleared_session_cookie()]
        )

    @post("/settings/identities/unlink")
    async def unlink_identity(visitor: Browsing) -> Response[Any]:
        async def action() -> Response[Any]:
            try:
                identity_id = uuid.UUID(visitor.form.get("identity", ""))
            except ValueError:
                raise NotFound("no such linked identity") from None
            await federation.unlink(visitor.signed_in(), identity_id, client=visitor.client)
            return redirect(visitor, "/settings?notice=identity-unlinked#identities")

        return await settings_form(visitor, action, "identities", also=(LastWayIn,))

    def passkey_id(visitor: Visitor) -> uuid.UUID:
        try:
            return uuid.UUID(visitor.form.get("passkey", ""))
        except ValueError:
            raise NotFound("no such passkey of yours") from None

    @post("/settings/passkeys/rename")
    async def rename_passkey(visitor: Browsing) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(PasskeyRename, visitor.form)
            await passkeys.rename(
                visitor.signed_in(), passkey_id(visitor), body.name, client=visitor.client
            )
            return redirect(visitor, "/settings?notice=passkey-renamed#passkeys")

        return await settings_form(visitor, action, "passkeys")

    @post("/settings/passkeys/remove")
    async def remove_passkey(visitor: Browsing) -> Response[Any]:
        async def action() -> Response[Any]:
            await passkeys.remove(visitor.signed_in(), passkey_id(visitor), client=visitor.client)
            return redirect(visitor, "/settings?notice=passkey-removed#passkeys")

        return await settings_form(visitor, action, "passkeys", also=(LastWayIn,))

    @post("/settings/delete")
    async def delete_account(visitor: Browsing) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> Response[Any]:
            body = forms.decode(DeleteAccountRequest, visitor.form)
            await step_up(visitor.signed_in())
            await accounts.profiles.delete(
                account.id,
                password=body.password,
                client=visitor.client,
                session_key=visitor.signed_in().session_key,
            )
            return redirect(visitor, "/?notice=account-deleted", cookies=[cleared_session_cookie()])

        fields = {"wrong-password": "password"}
        return await settings_form(visitor, action, "delete", fields)

    @post("/settings/import", request_max_body_size=IMPORT_FORM_BYTES)
    async def import_data(visitor: Browsing, request: Request[Any, Any, Any]) -> Response[Any]:
        account = visitor.signed_in().account
        upload = (await request.form()).get("file")

        async def action() -> Response[Any]:
            report = await portability.import_document(account, await _uploaded(upload))
            return page(visitor, "import_report.html", report=report)

        return await settings_form(visitor, action, "import", also=(MalformedBody, PayloadTooLarge))

    return [
        settings,
        save_profile,
        change_email,
        change_password,
        end_session,
        end_all_sessions,
        unlink_identity,
        rename_passkey,
        remove_passkey,
        delete_account,
        import_data,
    ]


async def _uploaded(upload: object) -> bytes:
    """The bytes of the file the form carries, or 422 when it carries none."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed([FieldError("file", "Choose the file to import.")])
    return await upload.read()
