"""REST for a learner's notes and own resources, under `/api/v1/me`: thin handlers over the
notes service. Everything is the caller's own: another account's note or resource is a 404,
never a 403, so nobody learns that it exists.

Notes carry an `ETag` (their version); `PUT` and `DELETE` with `If-Match` change only that
version, else 412 `precondition-failed`, so two tabs editing one note never silently
overwrite each other.
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter

from waymark.features.notes.errors import PreconditionFailed
from waymark.features.notes.schemas import (
    MAX_NOTE_BYTES,
    MAX_RESOURCES_PER_TOPIC,
    Note,
    NoteWrite,
    Precondition,
    Resource,
    ResourceCreate,
    SavedNote,
)
from waymark.features.notes.service import Notes
from waymark.kernel.errors import Conflict, NotAuthenticated, NotFound
from waymark.transport.http.guards import require_json_body
from waymark.transport.http.identity import AUTHENTICATED, NO_STORE, CallerAccount, RequestIdentity
from waymark.transport.http.problems import BAD_BODY, documented_problems
from waymark.transport.http.router import Router

NOTE_BODY_BYTES = 6 * MAX_NOTE_BYTES + 1024
"""A note's body cap: the largest note in JSON however it is escaped (`\\u00e9` is six bytes
for one character), with room for the object around it."""

SlugPath = Annotated[str, PathParameter(description="The roadmap's slug, e.g. `backend`.")]
TopicIdPath = Annotated[
    str, PathParameter(description="The topic's stable id, e.g. `databases.postgresql`.")
]
ResourceIdPath = Annotated[str, PathParameter(description="The resource's `id`.")]
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="if-match",
        required=False,
        description="The note's `ETag` as you last read it (or `*`: any existing note): "
        "change the note only if it is still that version, else 412 `precondition-failed`.",
    ),
]
ETAG = ResponseHeader(
    name="etag",
    documentation_only=True,
    description="The note's version; send it back in `If-Match` to change only that version.",
)
_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


def etag(revision: str) -> str:
    return f'"{revision}"'


def precondition(if_match: str | None) -> Precondition | None:
    """`If-Match` (RFC 9110): `*`, or entity tags compared strongly (a weak tag never
    matches). A header that is neither matches nothing."""
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return Precondition(any_revision=True)
    tags = frozenset(tag for weak, tag in _ENTITY_TAG.findall(if_match) if not weak)
    return Precondition(revisions=tags)


def note_response(saved: SavedNote) -> Response[Note]:
    return Response(
        saved.note,
        status_code=201 if saved.created else 200,
        headers={**NO_STORE, "etag": etag(saved.revision)},
    )


def notes_routes(notes: Notes, identity: RequestIdentity) -> Router:
    note_path = "/notes/{slug:str}/{topic_id:str}"
    resources_path = "/resources/{slug:str}/{topic_id:str}"

    @get(
        note_path,
        summary="Your note on a topic",
        response_headers=[ETAG],
        responses=documented_problems(NotAuthenticated, NotFound),
    )
    async def get_note(
        account: CallerAccount, slug: SlugPath, topic_id: TopicIdPath
    ) -> Response[Note]:
        return note_response(await notes.notes.get(account.id, slug, topic_id))

    @put(
        note_path,
        summary="Write your note on a topic (create or replace)",
        description=f"Markdown, at most {MAX_NOTE_BYTES // 1024} KiB of UTF-8. 201 when the "
        "note is new, 200 when it replaced one. The topic must be on a roadmap now (a retired "
        "topic's note can be read and deleted, not changed).",
        status_code=200,
        request_max_body_size=NOTE_BODY_BYTES,
        response_headers=[ETAG],
        responses={
            201: ResponseSpec(data_container=Note, description="The note, new."),
            **documented_problems(
                *BAD_BODY, *AUTHENTICATED, NotFound, PreconditionFailed, Conflict
            ),
        },
    )
    async def put_note(
        data: JSONBody[NoteWrite],
        account: CallerAccount,
        slug: SlugPath,
        topic_id: TopicIdPath,
        if_match: IfMatch = None,
    ) -> Response[Note]:
        saved = await notes.notes.write(
            account.id, slug, topic_id, data.markdown, precondition=precondition(if_match)
        )
        return note_response(saved)

    @delete(
        note_path,
        summary="Delete your note on a topic",
        status_code=204,
        responses=documented_problems(*AUTHENTICATED, NotFound, PreconditionFailed, Conflict),
    )
    async def delete_note(
        account: CallerAccount, slug: SlugPath, topic_id: TopicIdPath, if_match: IfMatch = None
    ) -> None:
        await notes.notes.delete(account.id, slug, topic_id, precondition=precondition(if_match))

    @get(
        resources_path,
        summary="Your own resources on a topic, in the order you added them",
        responses=documented_problems(NotAuthenticated, NotFound),
    )
    async def list_resources(
        account: CallerAccount, slug: SlugPath, topic_id: TopicIdPath
    ) -> Response[list[Resource]]:
        found = await notes.resources.list(account.id, slug, topic_id)
        return Response(found, headers=NO_STORE)

    @post(
        resources_path,
        summary="Add a resource of your own to a topic",
        description=f"At most {MAX_RESOURCES_PER_TOPIC} per topic (then 422 naming "
        "`resources`). The URL is kept as given and never fetched.",
        status_code=201,
        responses=documented_problems(*BAD_BODY, *AUTHENTICATED, NotFound, Conflict),
    )
    async def add_resource(
        data: JSONBody[ResourceCreate],
        account: CallerAccount,
        slug: SlugPath,
        topic_id: TopicIdPath,
    ) -> Response[Resource]:
        added = await notes.resources.add(
            account.id, slug, topic_id, title=data.title, url=data.url, kind=data.kind
        )
        return Response(added, status_code=201, headers=NO_STORE)

    @delete(
        "/resources/{resource_id:str}",
        summary="Delete one of your resources",
        status_code=204,
        responses=documented_problems(*AUTHENTICATED, NotFound, Conflict),
    )
    async def delete_resource(account: CallerAccount, resource_id: ResourceIdPath) -> None:
        await notes.resources.delete(account.id, resource_id)

    return Router(
        path="/api/v1/me",
        route_handlers=[
            get_note,
            put_note,
            delete_note,
            list_resources,
            add_resource,
            delete_resource,
        ],
        dependencies=identity.dependencies(),
        before_request=require_json_body,
        tags=["notes"],
    )
