"""REST for teams, under `/api/v1/teams` and `/api/v1/invites`: thin handlers over `Teams`.

Who may do what is the policy's (`kernel.authz`), asked by each use case: a team the caller
is not in answers 404 like one that does not exist (platform admins included), a role that
falls short 403 `forbidden`. An invite's link works only for the signed-in account of the
address it was sent to. Accepting an invite (a new role) and handing a team over (a role
lost) regenerate a browser session: a new cookie, and the new CSRF token in `X-CSRF-Token`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, TypeVar

from litestar import Response, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter

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
    Acceptance,
    HiddenTopics,
    Invite,
    InviteCreate,
    InvitePreview,
    MyInvite,
    Reminded,
    ReminderRequest,
    RoleChange,
    TeamCreate,
    TeamDetail,
    TeamMember,
    TeamPatch,
    TeamProgress,
    TeamRoadmap,
    TeamSummary,
    Transfer,
)
from waymark.features.teams.service import Teams
from waymark.kernel.errors import (
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    StepUpRequired,
    UnsupportedMediaType,
    ValidationFailed,
)
from waymark.kernel.identity import Principal
from waymark.kernel.ports import SessionRenewal
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import (
    AUTHENTICATED,
    NO_STORE,
    Caller,
    CallerAccount,
    RequestIdentity,
    SteppedUp,
    renewed_session,
)
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

T = TypeVar("T")
TeamId = Annotated[uuid.UUID, PathParameter(description="The team's `id`.")]
MemberId = Annotated[uuid.UUID, PathParameter(description="The member's `account_id`.")]
InviteId = Annotated[uuid.UUID, PathParameter(description="The invite's `id`.")]
SlugPath = Annotated[str, PathParameter(max_length=64, description="A roadmap's slug.")]
TokenPath = Annotated[
    str,
    PathParameter(
        min_length=16,
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The token of the invite's mailed link (`/invites/{token}`).",
    ),
]

IN_TEAM = (*AUTHENTICATED, NotFound)
"""What any route on a team answers: no caller, or a team the caller is not in."""
MANAGING = (*IN_TEAM, Forbidden)
"""... and a role that falls short."""
NO_BODY = (UnsupportedMediaType,)
THROTTLED = (RateLimited, ServiceUnavailable)


def team_routes(teams: Teams, identity: RequestIdentity, renew: SessionRenewal) -> list[Router]:
    clock = teams.clock
    team = "/{team_id:uuid}"

    async def with_new_session(principal: Principal, body: T) -> Response[T]:
        """`body`, and a new session cookie: the caller's roles changed."""
        renewed = await renew(principal)
        return renewed_session(Response(body, headers=NO_STORE), renewed, now=clock.time())

    # -- teams -------------------------------------------------------------------------------

    @post(
        "/",
        summary="Create a team (you are its owner)",
        status_code=201,
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, Forbidden, *THROTTLED),
    )
    async def create_team(
        data: JSONBody[TeamCreate], account: CallerAccount
    ) -> Response[TeamDetail]:
        created = await teams.lifecycle.create(
            account, name=data.name, members_see_progress=data.members_see_progress
        )
        return Response(created, status_code=201, headers=NO_STORE)

    @get(
        "/",
        summary="Your teams, with your role in each",
        responses=documented_problems(*AUTHENTICATED),
    )
    async def my_teams(account: CallerAccount) -> Response[list[TeamSummary]]:
        return Response(await teams.lifecycle.mine(account), headers=NO_STORE)

    @get(
        team,
        summary="A team of yours: settings and roadmaps",
        responses=documented_problems(*IN_TEAM),
    )
    async def get_team(account: CallerAccount, team_id: TeamId) -> Response[TeamDetail]:
        return Response(await teams.lifecycle.get(account, team_id), headers=NO_STORE)

    @patch(
        team,
        summary="Rename the team or change its settings (admins and up)",
        responses=documented_problems(*BAD_BODY, *MANAGING),
    )
    async def update_team(
        data: JSONBody[TeamPatch], account: CallerAccount, team_id: TeamId
    ) -> Response[TeamDetail]:
        updated = await teams.lifecycle.update(account, team_id, data.changes())
        return Response(updated, headers=NO_STORE)

    @delete(
        team,
        summary="Delete the team, its memberships, invites and roadmaps (the owner)",
        status_code=204,
        responses=documented_problems(*MANAGING),
    )
    async def delete_team(account: CallerAccount, team_id: TeamId) -> None:
        await teams.lifecycle.delete(account, team_id)

    @post(
        f"{team}/transfer",
        summary="Hand the team over to another member (you become an admin)",
        status_code=200,
        responses=documented_problems(*BAD_BODY, *MANAGING, StepUpRequired),
    )
    async def transfer(
        data: JSONBody[Transfer], stepped_up: SteppedUp, team_id: TeamId
    ) -> Response[TeamDetail]:
        moved = await teams.lifecycle.transfer(stepped_up.account, team_id, data.account_id)
        return await with_new_session(stepped_up, moved)

    # -- members -----------------------------------------------------------------------------

    @get(
        f"{team}/members",
        summary="The team's members, with names and addresses (to its members)",
        responses=documented_problems(*IN_TEAM),
    )
    async def members(account: CallerAccount, team_id: TeamId) -> Response[list[TeamMember]]:
        return Response(await teams.members.of_team(account, team_id), headers=NO_STORE)

    @patch(
        f"{team}/members/{{user_id:uuid}}",
        summary="Change a member's role (to a role below yours; `owner` only by transfer)",
        responses=documented_problems(*BAD_BODY, *MANAGING),
    )
    async def change_role(
        data: JSONBody[RoleChange], account: CallerAccount, team_id: TeamId, user_id: MemberId
    ) -> Response[TeamMember]:
        changed = await teams.members.change_role(account, team_id, user_id, data.role)
        return Response(changed, headers=NO_STORE)

    @delete(
        f"{team}/members/{{user_id:uuid}}",
        summary="Remove a member (of a role below yours)",
        status_code=204,
        responses=documented_problems(*MANAGING),
    )
    async def remove_member(account: CallerAccount, team_id: TeamId, user_id: MemberId) -> None:
        await teams.members.remove(account, team_id, user_id)

    @post(
        f"{team}/leave",
        summary="Leave the team (not its last owner: 409 `last-owner`)",
        status_code=204,
        responses=documented_problems(*IN_TEAM, LastOwner, *NO_BODY),
    )
    async def leave(account: CallerAccount, team_id: TeamId) -> None:
        await teams.members.leave(account, team_id)

    # -- invites (the team's side) -----------------------------------------------------------

    @post(
        f"{team}/invites",
        summary="Invite an address to a role below yours (mailed, single use, 7 days)",
        status_code=201,
        responses=documented_problems(
            *BAD_BODY,
            *MANAGING,
            AlreadyMember,
            AlreadyInvited,
            TeamFull,
            TooManyInvites,
            *THROTTLED,
        ),
    )
    async def invite(
        data: JSONBody[InviteCreate], account: CallerAccount, team_id: TeamId
    ) -> Response[Invite]:
        sent = await teams.invites.invite(account, team_id, email=data.email, role=data.role)
        return Response(sent, status_code=201, headers=NO_STORE)

    @get(
        f"{team}/invites",
        summary="The team's pending invites (managers and up)",
        responses=documented_problems(*MANAGING),
    )
    async def invites(account: CallerAccount, team_id: TeamId) -> Response[list[Invite]]:
        return Response(await teams.invites.of_team(account, team_id), headers=NO_STORE)

    @delete(
        f"{team}/invites/{{invite_id:uuid}}",
        summary="Revoke an invite: its link stops working",
        status_code=204,
        responses=documented_problems(*MANAGING),
    )
    async def revoke(account: CallerAccount, team_id: TeamId, invite_id: InviteId) -> None:
        await teams.invites.revoke(account, team_id, invite_id)

    @post(
        f"{team}/invites/{{invite_id:uuid}}/resend",
        summary="Mail the invite again with a new link (the old one dies)",
        status_code=200,
        responses=documented_problems(*MANAGING, *THROTTLED, *NO_BODY),
    )
    async def resend(
        account: CallerAccount, team_id: TeamId, invite_id: InviteId
    ) -> Response[Invite]:
        return Response(await teams.invites.resend(account, team_id, invite_id), headers=NO_STORE)

    # -- roadmaps and progress ---------------------------------------------------------------

    @put(
        f"{team}/roadmaps/{{slug:str}}",
        summary="Have the team follow a roadmap",
        status_code=200,
        responses=documented_problems(*MANAGING, TooManyRoadmaps, ValidationFailed, *NO_BODY),
    )
    async def assign(
        account: CallerAccount, team_id: TeamId, slug: SlugPath
    ) -> Response[TeamRoadmap]:
        return Response(await teams.roadmaps.assign(account, team_id, slug), headers=NO_STORE)

    @delete(
        f"{team}/roadmaps/{{slug:str}}",
        summary="Stop following a roadmap",
        status_code=204,
        responses=documented_problems(*MANAGING, ValidationFailed),
    )
    async def unassign(account: CallerAccount, team_id: TeamId, slug: SlugPath) -> None:
        await teams.roadmaps.unassign(account, team_id, slug)

    @put(
        f"{team}/roadmaps/{{slug:str}}/hidden-topics",
        summary="Set the topics the team hides on a roadmap (the whole set)",
        status_code=200,
        responses=documented_problems(*BAD_BODY, *MANAGING),
    )
    async def hide_topics(
        data: JSONBody[HiddenTopics], account: CallerAccount, team_id: TeamId, slug: SlugPath
    ) -> Response[TeamRoadmap]:
        shown = await teams.roadmaps.hide_topics(account, team_id, slug, data.topic_ids)
        return Response(shown, headers=NO_STORE)

    @get(
        f"{team}/progress/{{slug:str}}",
        summary="The members' progress on a roadmap: per member, overall, per topic",
        responses=documented_problems(*MANAGING, ValidationFailed),
    )
    async def progress(
        account: CallerAccount, team_id: TeamId, slug: SlugPath
    ) -> Response[TeamProgress]:
        return Response(await teams.reports.on_roadmap(account, team_id, slug), headers=NO_STORE)

    @post(
        f"{team}/reminders",
        summary="Mail the members behind on a roadmap (once a day per roadmap)",
        status_code=200,
        responses=documented_problems(*BAD_BODY, *MANAGING, *THROTTLED),
    )
    async def remind(
        data: JSONBody[ReminderRequest], account: CallerAccount, team_id: TeamId
    ) -> Response[Reminded]:
        return Response(await teams.reports.remind(account, team_id, data), headers=NO_STORE)

    # -- invites (the invited address's side) ------------------------------------------------

    invited = (*AUTHENTICATED, InvalidInvite, ValidationFailed)

    @get(
        "/{token:str}",
        summary="What an invite is for (to the invited address's account)",
        responses=documented_problems(*invited),
    )
    async def preview(account: CallerAccount, token: TokenPath) -> Response[InvitePreview]:
        return Response(await teams.invites.preview(account, token), headers=NO_STORE)

    @post(
        "/{token:str}/accept",
        summary="Join the team in the invite's role",
        status_code=200,
        description="The body is `{}`: the role is the invite's.",
        responses=documented_problems(*BAD_BODY, *invited, AlreadyMember, TeamFull),
    )
    async def accept(
        data: JSONBody[Acceptance], principal: Caller, token: TokenPath
    ) -> Response[TeamSummary]:
        return await with_new_session(
            principal, await teams.invites.accept(principal.account, token)
        )

    @post(
        "/{token:str}/decline",
        summary="Turn an invite down",
        status_code=204,
        responses=documented_problems(*invited, *NO_BODY),
    )
    async def decline(account: CallerAccount, token: TokenPath) -> None:
        await teams.invites.decline(account, token)

    # -- the caller's own invites, by id (no token: the address is the account's, confirmed) --

    @get(
        "/",
        summary="The live invites to your confirmed address, newest first",
        responses=documented_problems(NotAuthenticated),
    )
    async def my_invites(account: CallerAccount) -> Response[list[MyInvite]]:
        return Response(await teams.invites.mine(account), headers=NO_STORE)

    @post(
        "/{invite_id:uuid}/accept",
        summary="Join the team of one of your invites, in its role",
        status_code=200,
        description="As `POST invites/{token}/accept`, the invite named by its `id`.",
        responses=documented_problems(*BAD_BODY, *invited, AlreadyMember, TeamFull),
    )
    async def accept_mine(
        data: JSONBody[Acceptance], principal: Caller, invite_id: InviteId
    ) -> Response[TeamSummary]:
        joined = await teams.invites.accept_mine(principal.account, invite_id)
        return await with_new_session(principal, joined)

    @post(
        "/{invite_id:uuid}/decline",
        summary="Turn one of your invites down",
        status_code=204,
        responses=documented_problems(*invited, *NO_BODY),
    )
    async def decline_mine(account: CallerAccount, invite_id: InviteId) -> None:
        await teams.invites.decline_mine(account, invite_id)

    dependencies = identity.dependencies()
    return [
        Router(
            path="/api/v1/teams",
            route_handlers=[
                create_team,
                my_teams,
                get_team,
                update_team,
                delete_team,
                transfer,
                members,
                change_role,
                remove_member,
                leave,
                invite,
                invites,
                revoke,
                resend,
                assign,
                unassign,
                hide_topics,
                progress,
                remind,
            ],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["teams"],
        ),
        Router(
            path="/api/v1/invites",
            route_handlers=[preview, accept, decline],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["teams"],
        ),
        Router(
            path="/api/v1/me/invites",
            route_handlers=[my_invites, accept_mine, decline_mine],
            dependencies=dependencies,
            before_request=require_json_body,
            tags=["teams"],
        ),
    ]
