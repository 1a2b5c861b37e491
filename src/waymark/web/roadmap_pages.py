"""The home page (the roadmaps, the learner's progress on each, a way to sign up) and a
roadmap's page: its diagram in the learner's statuses, their progress bar and next up, an
outline of the same, and a panel per topic with its description, status buttons, note and
own resources and, where Waymark builds the topic itself, how (the roadmap's coverage rows).

Changing a status is a plain form here (POST, CSRF token, 303 back to the topic's panel);
with script, `learner.js` makes the same change through the API without a reload.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from litestar import Response, get, post
from litestar._parsers import parse_cookie_string  # `Request.cookies`' own
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from waymark.features.progress.schemas import StatusChange
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.coverage import CoverageMap
from waymark.features.roadmaps.schemas import SLUG_PATTERN, TOPIC_ID_PATTERN
from waymark.kernel.errors import WaymarkError
from waymark.transport.http.fast import Answer, FastRequest, FastRoute
from waymark.transport.http.identity import NO_STORE, SESSION_COOKIE, RequestIdentity
from waymark.web import forms
from waymark.web.account_pages import submit
from waymark.web.drawing import PageDrawer
from waymark.web.forms import FormState
from waymark.web.learning import LearningPages
from waymark.web.rendering import page, redirect
from waymark.web.visitor import FORM_COOKIE, THEME_COOKIE, THEMES, Browsing, Visitor

SlugPath = Annotated[str, PathParameter(max_length=64, pattern=SLUG_PATTERN)]
"""A slug that a form's redirect may name (no other character can reach a `Location`)."""
AnySlug = Annotated[str, PathParameter(max_length=64)]
"""A page's slug: one that is no roadmap's is a 404, like any other."""
TopicPath = Annotated[str, PathParameter(max_length=129, pattern=TOPIC_ID_PATTERN)]
ROADMAP_PAGE = "roadmap/page.html"
PAGE_TEMPLATE = "/roadmaps/{slug}"
PAGE_HEADERS = {"content-type": "text/html; charset=utf-8", **NO_STORE}
"""A page's headers as Litestar sends a `page()` (the layers outside add the rest)."""


def topic_url(slug: str, topic_id: str | None = None) -> str:
    """The roadmap's page, with the topic's panel open (`#topic-<id>`)."""
    return f"/roadmaps/{slug}" + (f"#topic-{topic_id}" if topic_id else "")


class RoadmapForms:
    """The roadmap's page as a form's answer: a redirect back to the topic, or, when the
    form is refused, the page again with that topic's form saying what is wrong (its
    action ends in `#topic-<id>`, so the panel is open without script too)."""

    def __init__(self, pages: LearningPages, coverage: Mapping[str, CoverageMap]) -> None:
        self.pages = pages
        self.coverage = coverage

    async def context(self, visitor: Visitor, slug: str) -> dict[str, Any]:
        view = await self.pages.roadmap(visitor.account, slug)
        return {
            "roadmap": view.roadmap,
            "diagram": view.diagram,
            "learner": view.learner,
            "titles": view.titles,
            "coverage": self.coverage.get(slug),
        }

    async def submit(
        self,
        visitor: Visitor,
        action: Callable[[], Awaitable[Any]],
        slug: str,
        topic_id: str,
        form_name: str,
        *,
        also: tuple[type[WaymarkError], ...] = (),
    ) -> Response[Any]:
        """Run a topic's form (`action`, one service call), then back to its panel."""

        async def done() -> Response[Any]:
            await action()
            return redirect(visitor, topic_url(slug, topic_id))

        async def again() -> dict[str, Any]:
            context = await self.context(visitor, slug)
            return {**context, "refused": form_name, "refused_topic": topic_id}

        return await submit(visitor, done, ROADMAP_PAGE, more=again, also=also)

    async def as_typed(
        self, visitor: Visitor, slug: str, topic_id: str, form_name: str, **extra: Any
    ) -> Response[Any]:
        """The page with a topic's form as it was typed, not sent: a note's preview drawn
        without script (`extra` holds what the form shows beside it)."""
        context = await self.context(visitor, slug)
        state = FormState(values=dict(visitor.form))
        return page(
            visitor,
            ROADMAP_PAGE,
            form=state,
            refused=form_name,
            refused_topic=topic_id,
            **context,
            **extra,
        )


def roadmap_pages(
    pages: LearningPages, progress: ProgressService, roadmap_forms: RoadmapForms
) -> list[HTTPRouteHandler]:
    @get("/")
    async def home(visitor: Browsing) -> Response[Any]:
        view = await pages.home(visitor.account)
        return page(
            visitor, "home.html", roadmaps=view.roadmaps, progress_by_slug=view.progress_by_slug
        )

    @get("/roadmaps/{slug:str}")
    async def roadmap(visitor: Browsing, slug: AnySlug) -> Response[Any]:
        return page(visitor, ROADMAP_PAGE, **await roadmap_forms.context(visitor, slug))

    @post("/roadmaps/{slug:str}/topics/{topic_id:str}/status")
    async def set_status(visitor: Browsing, slug: SlugPath, topic_id: TopicPath) -> Response[Any]:
        account = visitor.signed_in().account

        async def action() -> None:
            body = forms.decode(StatusChange, visitor.form)
            await progress.set_status(account, slug, topic_id, body.status)

        return await roadmap_forms.submit(visitor, action, slug, topic_id, "status")

    @post("/roadmaps/{slug:str}/seen")
    async def mark_seen(visitor: Browsing, slug: SlugPath) -> Response[Any]:
        await progress.mark_seen(visitor.signed_in().account, slug)
        return redirect(visitor, topic_url(slug))

    return [home, roadmap, set_status, mark_seen]


def roadmap_page_fast_route(
    pages: LearningPages,
    drawer: PageDrawer,
    identity: RequestIdentity,
    unread: Callable[[uuid.UUID], Awaitable[int]],
) -> FastRoute:
    """A roadmap's page answered before routing (`transport/http/fast.py`), drawn from its
    stencil (`web/drawing.py`): the same bytes as the route's template, for the visitor the
    route would find (`Visitors.visitor` on a GET). What sets a cookie (a new stranger's
    form token, the end of a dead session), a query (a notice) and every error go on to the
    route, which draws the whole template."""

    async def page(request: FastRequest) -> Answer | None:
        scope = request.scope
        raw = scope.get("raw_path")
        if scope["query_string"] or (raw is not None and raw != scope["path"].encode()):
            return None  # a notice; a path Litestar may read otherwise (percent-encoded)
        cookies = parse_cookie_string(request.header(b"cookie") or "")
        theme = cookies.get(THEME_COOKIE)
        chosen = theme if theme in THEMES else None
        session_id = cookies.get(SESSION_COOKIE)
        slug = request.params["slug"]
        try:
            if session_id:
                principal = await identity.authenticator.from_cookie(
                    session_id, method="GET", csrf_header=None
                )
                account = principal.account
                current = await pages.catalog.current(slug)
                learner = await pages.learner(account, slug)
                count = await unread(account.id)
                body = drawer.draw(
                    current.detail, learner, account, chosen, principal.csrf_token, count
                )
            else:
                token = cookies.get(FORM_COOKIE)
                if not token:
                    return None
                current = await pages.catalog.current(slug)
                body = drawer.draw(current.detail, None, None, chosen, token)
        except WaymarkError:
            return None
        return 200, PAGE_HEADERS, body

    # The visitor's account, the learner's reads and the bell: one hot-read connection.
    return FastRoute(PAGE_TEMPLATE, page, {"slug": "[^/]{1,64}"}, reads=True)
