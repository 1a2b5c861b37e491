"""Teams on the pages: my teams (and a new one), a team's page (members and roles, invites,
roadmaps and hidden topics, settings, progress with a heat map, reminders), and the landing
page of a mailed invite (accept or decline it).

Thin, like the REST handlers in `features/teams/http.py`: each form posts to its own path,
is decoded into the API's request body, calls one use case of `Teams` (which checks the
caller's role itself: a 404 or 403 is drawn as the error page) and comes back to the team's
page with a notice, or shows the page again with what is wrong. Joining a team and handing
it over regenerate the browser session, as the API does (`SessionRenewal`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from waymark.features.roadmaps.schemas import Slug
from waymark.features.teams.errors import (
    AlreadyInvited,
    AlreadyMember,
    InvalidInvite,
    LastOwner,
    TeamFull,
    TooManyInvites,
    TooManyRoadmaps,
)
from waymark.features.teams.schemas import (
    HiddenTopics,
    InviteCreate,
    ReminderRequest,
    RoleChange,
    TeamCreate,
    TeamPatch,
    TeamSummary,
    Transfer,
)
from waymark.features.teams.service import Teams
from waymark.kernel.decoding import field_error
from waymark.kernel.errors import (
    FieldError,
    RateLimited,
    StepUpRequired,
    ValidationFailed,
    WaymarkError,
)
from waymark.kernel.ports import SessionRenewal, StepUp, no_step_up
from waymark.transport.http.identity import session_cookie
from waymark.transport.http.params import int64
from waymark.web import forms
from waymark.web.account_pages import submit
from waymark.web.forms import FormState
from waymark.web.rendering import page, redirect
from waymark.web.roadmap_pages import SlugPath
from waymark.web.team_view import TeamView
from waymark.web.visitor import Browsing, Visitor

TEAM_FORM_ERRORS: tuple[type[WaymarkError], ...] = (
    AlreadyInvited,
    AlreadyMember,
    LastOwner,
    TeamFull,
    TooManyInvites,
    TooManyRoadmaps,
    RateLimited,
    StepUpRequired,
)
"""Refusals of teams that a form answers by showing itself again, saying why."""
UNCONFIRMED = "Tick the box to confirm that the team is to be deleted."
TEAM_PAGE = "teams/team.html"
INVITE_PAGE = "teams/invite.html"
MY_INVITES_PAGE = "teams/my_invites.html"

TokenPath = Annotated[str, PathParameter(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_-]+$")]
TeamId = Annotated[uuid.UUID, PathParameter()]
MemberId = Annotated[uuid.UUID, PathParameter()]
InviteId = Annotated[uuid.UUID, PathParameter()]
RoadmapQuery = Annotated[str | None, QueryParameter(max_length=64)]
RemindedQuery = Annotated[int | None, int64(ge=0, description="Members just reminded.")]


class RoadmapChoice(msgspec.Struct):
    """The assign form: a roadmap of the catalog, by slug."""

    roadmap: Slug


def team_url(team_id: uuid.UUID, notice: str, anchor: str = "") -> str:
    """The team's page saying `notice` (a key of `NOTICES`), at `anchor`."""
    return f"/teams/{team_id}?notice={notice}" + (f"#{anchor}" if anchor else "")


def team_pages(
    teams: Teams, view: TeamView, renew: SessionRenewal, step_up: StepUp = no_step_up
) -> list[HTTPRouteHandler]:
    clock = teams.clock

    async def renewed(visitor: Visitor) -> list[Any]:
        """The new session cookie, after a change to the caller's own roles."""
        fresh = await renew(visitor.signed_in())
        if fresh is None:
            return []
        session_id, record = fresh
        return [session_cookie(session_id, expires_at=record.absolute_expires_at, now=clock.time())]

    async def welcome(visitor: Visitor, joined: TeamSummary) -> Response[Any]:
        """To the team just joined, with a new session cookie (the visitor has a new role)."""
        cookies = await renewed(visitor)
        return redirect(visitor, team_url(joined.id, "team-joined"), cookies=cookies)

    async def team_form(
        visitor: Visitor,
        team_id: uuid.UUID,
        action: Any,
        form_name: str,
        fields: Mapping[str, str] | None = None,
    ) -> Response[Any]:
        """Run a form of the team's page; refused, the page again, that form saying why."""
        account = visitor.signed_in().account

        async def again() -> dict[str, Any]:
            chosen = visitor.form.get("roadmap") or None
            return {"view": await view.team(account, team_id, chosen), "refused": form_name}

        return await submit(
            visitor, action, TEAM_PAGE, fields=fields, more=again, also=TEAM_FORM_ERRORS
        )

    # -- my teams ----------------------------------------------------------------------------

    @get("/teams")
    async def my_teams(visitor: Browsing) -> Response[Any]:
        mine = await teams.lifecycle.mine(visitor.signed_in().account)
        return page(visitor, "teams/list.html", teams=mine, form=None)

    @post("/teams")
    async def create_team(visitor: Browsing) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> Response[Any]:
            body = forms.decode(TeamCreate, visitor.form, checkboxes=("members_see_progress",))
            created = await teams.lifecycle.create(
                account, name=body.name, members_see_progress=body.members_see_progress
            )
            return redirect(visitor, team_url(created.id, "team-created"))

        async def again() -> dict[str, Any]:
            return {"teams": await teams.lifecycle.mine(account)}

        return await submit(visitor, action, "teams/list.html", more=again)

    # -- a team ------------------------------------------------------------------------------

    @get("/teams/{team_id:uuid}")
    async def team_page(
        visitor: Browsing,
        team_id: TeamId,
        roadmap: RoadmapQuery = None,
        reminded: RemindedQuery = None,
    ) -> Response[Any]:
        shown = await view.team(visitor.signed_in().account, team_id, roadmap)
        return page(visitor, TEAM_PAGE, view=shown, reminded=reminded, form=None, refused=None)

    @post("/teams/{team_id:uuid}/settings")
    async def save_settings(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(TeamPatch, visitor.form, checkboxes=("members_see_progress",))
            await teams.lifecycle.update(visitor.signed_in().account, team_id, body.changes())
            return redirect(visitor, team_url(team_id, "team-saved", "settings"))

        return await team_form(visitor, team_id, action, "settings")

    @post("/teams/{team_id:uuid}/delete")
    async def delete_team(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            if visitor.form.get("confirm") != "true":
                visitor.form["confirm"] = ""  # refused by the box itself
                raise ValidationFailed([FieldError("confirm", UNCONFIRMED)])
            await teams.lifecycle.delete(visitor.signed_in().account, team_id)
            return redirect(visitor, "/teams?notice=team-deleted")

        return await team_form(visitor, team_id, action, "delete")

    @post("/teams/{team_id:uuid}/transfer")
    async def transfer(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(Transfer, visitor.form)
            await step_up(visitor.signed_in())
            await teams.lifecycle.transfer(visitor.signed_in().account, team_id, body.account_id)
            cookies = await renewed(visitor)
            return redirect(
                visitor, team_url(team_id, "team-transferred", "members"), cookies=cookies
            )

        return await team_form(visitor, team_id, action, "transfer")

    # -- members -----------------------------------------------------------------------------

    @post("/teams/{team_id:uuid}/members/{member_id:uuid}/role")
    async def change_role(visitor: Browsing, team_id: TeamId, member_id: MemberId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(RoleChange, visitor.form)
            account = visitor.signed_in().account
            await teams.members.change_role(account, team_id, member_id, body.role)
            return redirect(visitor, team_url(team_id, "role-changed", "members"))

        return await team_form(visitor, team_id, action, f"role-{member_id}")

    @post("/teams/{team_id:uuid}/members/{member_id:uuid}/remove")
    async def remove_member(
        visitor: Browsing, team_id: TeamId, member_id: MemberId
    ) -> Response[Any]:
        await teams.members.remove(visitor.signed_in().account, team_id, member_id)
        return redirect(visitor, team_url(team_id, "member-removed", "members"))

    @post("/teams/{team_id:uuid}/leave")
    async def leave(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            await teams.members.leave(visitor.signed_in().account, team_id)
            return redirect(visitor, "/teams?notice=team-left")

        return await team_form(visitor, team_id, action, "leave")

    # -- invites (the team's side) -----------------------------------------------------------

    @post("/teams/{team_id:uuid}/invites")
    async def invite(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(InviteCreate, visitor.form)
            account = visitor.signed_in().account
            await teams.invites.invite(account, team_id, email=body.email, role=body.role)
            return redirect(visitor, team_url(team_id, "invite-sent", "invites"))

        fields = {"already-invited": "email", "already-a-member": "email"}
        return await team_form(visitor, team_id, action, "invite", fields)

    @post("/teams/{team_id:uuid}/invites/{invite_id:uuid}/resend")
    async def resend(visitor: Browsing, team_id: TeamId, invite_id: InviteId) -> Response[Any]:
        async def action() -> Response[Any]:
            await teams.invites.resend(visitor.signed_in().account, team_id, invite_id)
            return redirect(visitor, team_url(team_id, "invite-resent", "invites"))

        return await team_form(visitor, team_id, action, f"invite-{invite_id}")

    @post("/teams/{team_id:uuid}/invites/{invite_id:uuid}/revoke")
    async def revoke(visitor: Browsing, team_id: TeamId, invite_id: InviteId) -> Response[Any]:
        await teams.invites.revoke(visitor.signed_in().account, team_id, invite_id)
        return redirect(visitor, team_url(team_id, "invite-revoked", "invites"))

    # -- roadmaps, progress, reminders -------------------------------------------------------

    @post("/teams/{team_id:uuid}/roadmaps")
    async def assign(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            body = forms.decode(RoadmapChoice, visitor.form)
            await teams.roadmaps.assign(visitor.signed_in().account, team_id, body.roadmap)
            return redirect(visitor, team_url(team_id, "roadmap-assigned", "roadmaps"))

        return await team_form(visitor, team_id, action, "assign")

    @post("/teams/{team_id:uuid}/roadmaps/{slug:str}/unassign")
    async def unassign(visitor: Browsing, team_id: TeamId, slug: SlugPath) -> Response[Any]:
        await teams.roadmaps.unassign(visitor.signed_in().account, team_id, slug)
        return redirect(visitor, team_url(team_id, "roadmap-unassigned", "roadmaps"))

    @post("/teams/{team_id:uuid}/roadmaps/{slug:str}/hidden-topics")
    async def hide_topics(
        visitor: Browsing, team_id: TeamId, slug: SlugPath, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        chosen = [v for v in (await request.form()).getall("topic_ids") if isinstance(v, str)]

        async def action() -> Response[Any]:
            body = _hidden_topics(chosen)
            account = visitor.signed_in().account
            await teams.roadmaps.hide_topics(account, team_id, slug, body.topic_ids)
            return redirect(visitor, team_url(team_id, "topics-hidden", "roadmaps"))

        return await team_form(visitor, team_id, action, f"hidden-{slug}")

    @post("/teams/{team_id:uuid}/reminders")
    async def remind(visitor: Browsing, team_id: TeamId) -> Response[Any]:
        async def action() -> Response[Any]:
            given = {name: value for name, value in visitor.form.items() if value.strip()}
            body = forms.decode(ReminderRequest, given)
            done = await teams.reports.remind(visitor.signed_in().account, team_id, body)
            to = f"/teams/{team_id}?roadmap={body.roadmap}&reminded={done.reminded}#progress"
            return redirect(visitor, to)

        return await team_form(visitor, team_id, action, "remind")

    # -- invites (the invited address's side) ------------------------------------------------

    @get("/invites/{token:str}")
    async def invite_landing(visitor: Browsing, token: TokenPath) -> Response[Any]:
        if visitor.account is None:
            return page(visitor, INVITE_PAGE, token=token, preview=None, form=None)
        try:
            preview = await teams.invites.preview(visitor.account, token)
        except InvalidInvite as error:
            return _dead_invite(visitor, token, error)
        return page(visitor, INVITE_PAGE, token=token, preview=preview, form=None)

    @post("/invites/{token:str}/accept")
    async def accept(visitor: Browsing, token: TokenPath) -> Response[Any]:
        try:
            joined = await teams.invites.accept(visitor.signed_in().account, token)
        except (InvalidInvite, AlreadyMember, TeamFull) as error:
            return _dead_invite(visitor, token, error)
        return await welcome(visitor, joined)

    @post("/invites/{token:str}/decline")
    async def decline(visitor: Browsing, token: TokenPath) -> Response[Any]:
        try:
            await teams.invites.decline(visitor.signed_in().account, token)
        except InvalidInvite as error:
            return _dead_invite(visitor, token, error)
        return redirect(visitor, "/teams?notice=invite-declined")

    # -- the caller's own invites (a notification links here; no token) ---------------------

    @get("/invites")
    async def my_invites(visitor: Browsing) -> Response[Any]:
        account = visitor.signed_in().account
        return page(visitor, MY_INVITES_PAGE, invites=await teams.invites.mine(account), form=None)

    @post("/invites/mine/{invite_id:uuid}/accept")
    async def accept_mine(visitor: Browsing, invite_id: InviteId) -> Response[Any]:
        account = visitor.signed_in().account
        try:
            joined = await teams.invites.accept_mine(account, invite_id)
        except (InvalidInvite, AlreadyMember, TeamFull) as error:
            return await _my_invites_refused(teams, visitor, error)
        return await welcome(visitor, joined)

    @post("/invites/mine/{invite_id:uuid}/decline")
    async def decline_mine(visitor: Browsing, invite_id: InviteId) -> Response[Any]:
        try:
            await teams.invites.decline_mine(visitor.signed_in().account, invite_id)
        except InvalidInvite as error:
            return await _my_invites_refused(teams, visitor, error)
        return redirect(visitor, "/invites?notice=invite-declined")

    return [
        my_invites,
        accept_mine,
        decline_mine,
        my_teams,
        create_team,
        team_page,
        save_settings,
        delete_team,
        transfer,
        change_role,
        remove_member,
        leave,
        invite,
        resend,
        revoke,
        assign,
        unassign,
        hide_topics,
        remind,
        invite_landing,
        accept,
        decline,
    ]


def _hidden_topics(chosen: list[str]) -> HiddenTopics:
    """The ticked boxes as the API's body (the whole set of hidden topics)."""
    try:
        return msgspec.convert({"topic_ids": chosen}, HiddenTopics)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None


def _dead_invite(visitor: Visitor, token: str, error: WaymarkError) -> Response[Any]:
    """The landing page saying the invite cannot be used, never which team it was for."""
    state = FormState(message=error.title, code=error.code)
    return page(
        visitor, INVITE_PAGE, status_code=error.status, token=token, preview=None, form=state
    )


async def _my_invites_refused(teams: Teams, visitor: Visitor, error: WaymarkError) -> Response[Any]:
    """The caller's invites again, saying why the one chosen cannot be used."""
    invites = await teams.invites.mine(visitor.signed_in().account)
    state = FormState(message=error.title, code=error.code)
    return page(visitor, MY_INVITES_PAGE, status_code=error.status, invites=invites, form=state)
