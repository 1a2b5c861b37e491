"""`GET /api/v1/me/events`: the caller's live channels as Server-Sent Events;
`GET /api/v1/teams/{id}/presence`: who of a team is online; `POST
/api/v1/me/live-tickets`: a ticket to open the WebSocket (`ws.py`) with (docs/live.md).

A thin handler: `Live.open` checks and subscribes (its refusals are problem+json, before
the stream starts); the frames are written here; `EventStream` ends the stream when the
client goes or stops reading, and releases the subscription at once either way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Response, get, post
from litestar.params import HeaderParameter, PathParameter, QueryParameter

from waymark.features.live.encoded import EncodedEvents
from waymark.features.live.errors import TooManyStreams
from waymark.features.live.schemas import OnlineMember, TeamPresence
from waymark.features.live.service import Item, Live, LiveStream
from waymark.features.live.tickets import Tickets
from waymark.kernel.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from waymark.settings import LiveSettings
from waymark.transport.http import sse
from waymark.transport.http.identity import (
    AUTHENTICATED,
    NO_STORE,
    CallerAccount,
    RequestIdentity,
)
from waymark.transport.http.problems import documented_problems
from waymark.transport.http.router import Router

EVENTS_PATH = "/api/v1/me/events"
TeamId = Annotated[uuid.UUID, PathParameter(description="The team's `id`.")]
MAX_CURSOR = 4096

Teams = Annotated[
    list[uuid.UUID] | None,
    QueryParameter(
        name="team",
        description="A team whose progress to follow too (repeatable): its `id`. You must be "
        "allowed to see its progress.",
    ),
]
LastEventHeader = Annotated[
    str | None,
    HeaderParameter(
        name="last-event-id",
        max_length=MAX_CURSOR,
        description="The `id` of the last event received: resume after it.",
    ),
]
LastEventQuery = Annotated[
    str | None,
    QueryParameter(
        name="last_event_id",
        max_length=MAX_CURSOR,
        description="`Last-Event-ID`, for a client that cannot set the header.",
    ),
]


async def frames(
    stream: LiveStream,
    settings: LiveSettings,
    encoded: EncodedEvents[bytes],
    writes: sse.BodyWrites | None = None,
) -> AsyncIterator[bytes]:
    """The stream's frames; with `writes`, its plain events are written as they arrive
    while this waits for the next item (`LiveStream.deliver_directly`)."""
    yield sse.retry(settings.retry_ms)
    yield sse.frame(id=stream.cursor, event="ready", data={"channels": stream.channels})
    if writes is not None:
        stream.deliver_directly(lambda item: writes.write(_event(item, encoded)))
    try:
        ends = time.monotonic() + settings.stream_seconds
        while True:
            wait = min(settings.heartbeat_seconds, ends - time.monotonic())
            try:
                item = await stream.next(max(wait, 0.0))
            except StopAsyncIteration:
                yield sse.frame(event="close", data={"reason": str(stream.closed_reason)})
                return
            if item is None and time.monotonic() >= ends:
                # Streams are renewed now and then: the caller's credentials are checked again.
                yield sse.frame(event="close", data={"reason": "expired"})
                return
            if item is None:
                yield sse.HEARTBEAT
            elif item.id:
                yield _event(item, encoded)
            else:
                yield sse.with_id(item.cursor, _fields(item))
    finally:
        stream.deliver_directly(None)


def _event(item: Item, encoded: EncodedEvents[bytes]) -> bytes:
    """An event's frame: its lines but the cursor are every stream's."""
    return sse.with_id(item.cursor, encoded.get(item, _fields))


def _fields(item: Item) -> bytes:
    return sse.fields(event=item.kind, data={"channel": item.channel, "data": item.data})


class LiveTicketIssued(msgspec.Struct, frozen=True, kw_only=True):
    ticket: str
    """Give it to the WebSocket as `?ticket=`: it opens one connection, within `expires_in`."""
    expires_in: int
    """Seconds."""


def live_routes(live: Live, tickets: Tickets, identity: RequestIdentity) -> Router:
    settings = live.settings
    encoded: EncodedEvents[bytes] = EncodedEvents()

    @post(
        "/me/live-tickets",
        summary="A ticket to open the live WebSocket with",
        description="A WebSocket cannot send credentials, so ask for a ticket as yourself "
        "(bearer token, or session cookie with `X-CSRF-Token`) and open "
        "`/api/v1/live?ticket=...` with the subprotocol `waymark.live.v1` within "
        "`expires_in` seconds. A ticket opens one connection; ask for a new one to "
        "reconnect. See docs/live.md.",
        status_code=200,
        responses=documented_problems(
            UnsupportedMediaType, *AUTHENTICATED, RateLimited, ServiceUnavailable
        ),
    )
    async def issue_ticket(account: CallerAccount) -> Response[LiveTicketIssued]:
        ticket = await tickets.issue(account)
        issued = LiveTicketIssued(ticket=ticket, expires_in=round(tickets.lifetime))
        return Response(issued, headers=NO_STORE)

    @get(
        "/me/events",
        summary="Your live events, as Server-Sent Events",
        description="`text/event-stream` of your channel (`user:{you}`) and, with `team`, "
        "those teams' channels. Every event's `id` resumes all of them: send it back as "
        "`Last-Event-ID`. `event: resync` asks you to refetch a channel's state; "
        "`event: close` says why the server ended the stream. See docs/live.md.",
        media_type=sse.MEDIA_TYPE,
        responses=documented_problems(
            *AUTHENTICATED,
            NotFound,
            Forbidden,
            ValidationFailed,
            TooManyStreams,
            ServiceUnavailable,
        ),
    )
    async def events(
        account: CallerAccount,
        team: Teams = None,
        last_event_id: LastEventHeader = None,
        last_event_id_query: LastEventQuery = None,
    ) -> sse.EventStream:
        cursor = last_event_id if last_event_id is not None else last_event_id_query
        stream = await live.open(account, teams=team or (), cursor=cursor)
        writes = sse.BodyWrites()
        return sse.EventStream(
            frames(stream, settings, encoded, writes),
            on_close=stream.aclose,
            send_timeout=settings.send_timeout_seconds,
            writes=writes,
        )

    @get(
        "/teams/{team_id:uuid}/presence",
        summary="Who of the team is online now",
        description="The members following the team's live channel now (an SSE stream, a "
        "Socket.IO connection), on any server process. `presence.changed` on the channel "
        "tells of changes. Who may see it: whoever may see the team's progress.",
        responses=documented_problems(*AUTHENTICATED, NotFound, Forbidden, ServiceUnavailable),
    )
    async def presence(account: CallerAccount, team_id: TeamId) -> Response[TeamPresence]:
        online = await live.online(account, team_id)
        members = [
            OnlineMember(account_id=uuid.UUID(entry.account_id), display_name=entry.display_name)
            for entry in online
        ]
        return Response(TeamPresence(online=members), headers=NO_STORE)

    return Router(
        path="/api/v1",
        route_handlers=[events, presence, issue_ticket],
        dependencies=identity.dependencies(),
    )
