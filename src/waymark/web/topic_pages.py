"""A learner's note and own resources on a topic, as plain forms in the topic's panel: each
posts to its own path, makes one call to the notes service (the API's request bodies check
the form, so it is refused with the same field names and rules) and goes back to the panel.
With script, `learner.js` does the same through the API and asks `/notes/preview` for the
HTML of a note: Markdown is only ever rendered here, on the server (`web.markdown`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Response, post
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from waymark.features.notes.errors import PreconditionFailed
from waymark.features.notes.http import NOTE_BODY_BYTES
from waymark.features.notes.schemas import (
    RESOURCE_ID_PATTERN,
    NoteWrite,
    Precondition,
    ResourceCreate,
)
from waymark.features.notes.service import Notes
from waymark.features.roadmaps.schemas import TOPIC_ID_PATTERN
from waymark.kernel.errors import NotFound, ValidationFailed
from waymark.transport.http.identity import NO_STORE
from waymark.web import forms
from waymark.web.markdown import NoteRenderer
from waymark.web.rendering import redirect
from waymark.web.roadmap_pages import RoadmapForms, SlugPath, TopicPath, topic_url
from waymark.web.visitor import Browsing

ResourcePath = Annotated[str, PathParameter(max_length=64, pattern=RESOURCE_ID_PATTERN)]
_is_topic_id = re.compile(TOPIC_ID_PATTERN).fullmatch


def topic_pages(
    notes: Notes, renderer: NoteRenderer, roadmap_forms: RoadmapForms
) -> list[HTTPRouteHandler]:
    @post("/roadmaps/{slug:str}/topics/{topic_id:str}/note", request_max_body_size=NOTE_BODY_BYTES)
    async def save_note(visitor: Browsing, slug: SlugPath, topic_id: TopicPath) -> Response[Any]:
        """Save the note; or, for the form's Preview button (`intent=preview`), show the page
        with the note as typed and its HTML, saving nothing (the preview without script)."""
        account = visitor.signed_in().account
        if visitor.form.get("intent") == "preview":
            try:
                typed = forms.decode(NoteWrite, visitor.form)
            except ValidationFailed:
                pass  # refused below, as a save would be, and nothing is saved
            else:
                html = await renderer.render(typed.markdown)
                return await roadmap_forms.as_typed(
                    visitor, slug, topic_id, "note", note_preview=html
                )

        async def action() -> None:
            body = forms.decode(NoteWrite, visitor.form)
            await notes.notes.write(
                account.id, slug, topic_id, body.markdown, precondition=_read_at(visitor.form)
            )

        return await roadmap_forms.submit(
            visitor, action, slug, topic_id, "note", also=(PreconditionFailed,)
        )

    @post("/roadmaps/{slug:str}/topics/{topic_id:str}/note/delete")
    async def delete_note(visitor: Browsing, slug: SlugPath, topic_id: TopicPath) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> None:
            await notes.notes.delete(
                account.id, slug, topic_id, precondition=_read_at(visitor.form)
            )

        return await roadmap_forms.submit(
            visitor, action, slug, topic_id, "note", also=(PreconditionFailed, NotFound)
        )

    @post("/notes/preview", request_max_body_size=NOTE_BODY_BYTES, status_code=200)
    async def preview_note(visitor: Browsing) -> Response[str]:
        """The note in the form, as HTML (a fragment, for `learner.js` to show)."""
        visitor.signed_in()
        body = forms.decode(NoteWrite, visitor.form)
        html = await renderer.render(body.markdown)
        return Response(str(html), media_type=MediaType.HTML, headers=NO_STORE)

    @post("/roadmaps/{slug:str}/topics/{topic_id:str}/resources")
    async def add_resource(visitor: Browsing, slug: SlugPath, topic_id: TopicPath) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> None:
            body = forms.decode(ResourceCreate, visitor.form)
            await notes.resources.add(
                account.id, slug, topic_id, title=body.title, url=body.url, kind=body.kind
            )

        return await roadmap_forms.submit(visitor, action, slug, topic_id, "resource")

    @post("/roadmaps/{slug:str}/resources/{resource_id:str}/delete")
    async def delete_resource(
        visitor: Browsing, slug: SlugPath, resource_id: ResourcePath
    ) -> Response[Any]:
        await notes.resources.delete(visitor.signed_in().account.id, resource_id)
        topic_id = visitor.form.get("topic_id", "")
        return redirect(visitor, topic_url(slug, topic_id if _is_topic_id(topic_id) else None))

    return [save_note, delete_note, preview_note, add_resource, delete_resource]


def _read_at(form: dict[str, str]) -> Precondition | None:
    """The note's version the form was filled in over (none: there was no note yet)."""
    revision = form.get("revision")
    return Precondition(revisions=frozenset({revision})) if revision else None
