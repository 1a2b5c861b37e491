"""A roadmap's page drawn from a stencil made once per roadmap version, instead of the whole
template per request (`web/stencil.py`).

Most of the page is the same for every visitor of a version: the header, the legend, the
diagram's frame, every topic's description and how Waymark builds it. What is a visitor's
own is cut out as holes: their progress (counts, next up, what changed), each topic in their
status (its node in the diagram, its line in the outline, its panel), and their notes and
resources. A topic's node, line and panel in one status, with no note and no resource, is
the same for everyone too: each is drawn once, when first needed, and kept with the stencil.
Per request only the progress and the panels and lines of topics where the learner has a
note or resources are drawn, by the same templates the whole page uses; the CSRF token goes
in last (`Cut.fill`).

A stencil is kept per roadmap (its latest version only), theme, and what the site's
navigation shows (a stranger, a member, an admin): a new version, imported here or seen
from another process through the catalog's cache, is a new stencil. The navigation's bell
(the visitor's unread notifications) is a hole too, drawn once per count.

Only the plain page is drawn so: a form's answer (a refused form, a preview) is the whole
template, as before, and so is anything with a query string (a notice).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from jinja2 import Environment, Template

from waymark.features.roadmaps.coverage import CoverageMap
from waymark.features.roadmaps.schemas import RoadmapDetail
from waymark.kernel.identity import Account
from waymark.web.diagram import Diagram, SectionNode, TopicNode, lay_out
from waymark.web.learning import Learner, RoadmapPage
from waymark.web.stencil import CSRF_HOLE, Cut, Hole, Stencil
from waymark.web.visitor import Theme

ROADMAP_PAGE = "roadmap/page.html"
_encode = msgspec.json.Encoder().encode
MAX_OWN_PIECES = 4_096
"""Pieces with learners' notes or resources (and progress sections) kept per version, then
started afresh: a panel with a note is a few kB, so at most some tens of MB."""
_PIECES = {
    "node": "roadmap/_node.html",
    "outline": "roadmap/_outline_topic.html",
    "panel": "roadmap/_panel.html",
}
_NO_LEARNER = Learner(progress=None, notes={}, note_html={}, resources={})  # type: ignore[arg-type]
"""A learner with no note and no resource: what a kept piece is drawn for."""


@dataclass(frozen=True)
class _Nav:
    """What the site's navigation reads of the visitor (base.html), for the stencil."""

    account: Any
    csrf_token: str = CSRF_HOLE
    unread: int = 0


@dataclass(frozen=True)
class _Role:
    platform_role: str


class _Url:
    def __init__(self, path: str) -> None:
        self.path = path
        self.query = ""


class _Request:
    """What base.html reads of the request: the theme cookie, the path, no query."""

    def __init__(self, path: str, theme_cookie: str, theme: Theme | None) -> None:
        self.url = _Url(path)
        self.cookies = {theme_cookie: theme} if theme else {}
        self.query_params: dict[str, str] = {}


class _Version:
    """The stencils and kept pieces of one version of one roadmap."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.cuts: dict[tuple[Theme | None, str], Cut] = {}
        self.pieces: dict[tuple[str, str, str], bytes] = {}
        self.diagrams: dict[str, Diagram] = {}
        self.nodes: dict[tuple[str, str], TopicNode] = {}
        self.titles: dict[str, str] = {}
        self.progress: dict[bytes, bytes] = {}
        """The progress above the diagram, by what it shows (counts, next up, changes)."""
        self.learners: dict[tuple[Any, ...], bytes] = {}
        """Pieces with a learner's note or resources, by what they show (`_own_key`)."""


class PageDrawer:
    """Draws roadmaps' pages from stencils; one per app (`web/site.py`)."""

    def __init__(
        self, env: Environment, coverage: Mapping[str, CoverageMap], theme_cookie: str
    ) -> None:
        self.env = env
        self.coverage = coverage
        self.theme_cookie = theme_cookie
        self._versions: dict[str, _Version] = {}
        self._templates: dict[str, Template] = {}
        self._bells: dict[int, bytes] = {}
        """The navigation's bell by unread count (`_bell.html`)."""

    def draw(
        self,
        roadmap: RoadmapDetail,
        learner: Learner | None,
        account: Account | None,
        theme: Theme | None,
        csrf_token: str,
        unread: int = 0,
    ) -> bytes:
        """The page of `roadmap` for this visitor (`learner` for a signed-in one, their side
        of the page: `LearningPages.learner`, and `unread` notifications), as the template
        draws it without a form, notice or query."""
        kept = self._versions.get(roadmap.slug)
        if kept is None or kept.version != roadmap.version:
            kept = self._versions[roadmap.slug] = _Version(roadmap.version)
            kept.titles = {t.id: t.title for s in roadmap.sections for t in s.topics}
        page = RoadmapPage(roadmap, self._diagram(kept, roadmap, "pending"), learner, kept.titles)
        nav = "stranger" if account is None else account.platform_role
        cut = kept.cuts.get((theme, nav))
        if cut is None:
            cut = kept.cuts[(theme, nav)] = self._cut(page, nav, theme)
        if learner is None:
            return cut.fill(_no_holes, csrf_token)
        statuses = learner.progress.statuses

        def piece(hole: Hole) -> bytes:
            if hole.kind == "bell":
                return self._bell(unread)
            if hole.kind == "progress":
                progress = learner.progress
                shown = _encode((progress.counts, progress.next_up, progress.changes_since_seen))
                drawn = kept.progress.get(shown)
                if drawn is None:
                    if len(kept.progress) >= MAX_OWN_PIECES:
                        kept.progress.clear()
                    drawn = kept.progress[shown] = self._render(
                        "roadmap/_progress.html", page, learner
                    ).encode()
                return drawn
            section, node = hole.args
            topic_id = node.topic.id
            status = statuses.get(topic_id, "pending")
            own = hole.kind != "node" and (
                topic_id in learner.note_html
                or (hole.kind == "panel" and topic_id in learner.resources)
            )
            if own:
                mine = _own_key(hole.kind, topic_id, status, learner)
                found = kept.learners.get(mine)
                if found is None:
                    if len(kept.learners) >= MAX_OWN_PIECES:
                        kept.learners.clear()
                    node = self._node(kept, node, status)
                    found = kept.learners[mine] = self._render(
                        _PIECES[hole.kind], page, learner, section, node
                    ).encode()
                return found
            key = (hole.kind, topic_id, status)
            found = kept.pieces.get(key)
            if found is None:
                node = self._node(kept, node, status)
                found = kept.pieces[key] = self._render(
                    _PIECES[hole.kind], page, _NO_LEARNER, section, node
                ).encode()
            return found

        return cut.fill(piece, csrf_token)

    def _cut(self, page: RoadmapPage, nav: str, theme: Theme | None) -> Cut:
        # A stranger's page is the whole template (every topic pending, nothing their own);
        # a learner's has holes for what is theirs.
        stranger = page.learner is None
        stencil = Stencil()
        drawn = self._template(ROADMAP_PAGE).render(
            self._context(page, None if stranger else _NO_LEARNER),
            visitor=_Nav(None if stranger else _Role(nav)),
            request=_Request(f"/roadmaps/{page.roadmap.slug}", self.theme_cookie, theme),
            diagram=page.diagram,
            stencil=None if stranger else stencil,
        )
        return stencil.cut(drawn)

    def _bell(self, unread: int) -> bytes:
        found = self._bells.get(unread)
        if found is None:
            if len(self._bells) >= MAX_OWN_PIECES:
                self._bells.clear()
            drawn = self._template("_bell.html").render(visitor=_Nav(None, unread=unread))
            found = self._bells[unread] = drawn.encode()
        return found

    def _template(self, name: str) -> Template:
        """The environment's template, looked up once (not checked for changes per piece)."""
        found = self._templates.get(name)
        if found is None:
            found = self._templates[name] = self.env.get_template(name)
        return found

    def _diagram(self, kept: _Version, detail: RoadmapDetail, status: str) -> Diagram:
        found = kept.diagrams.get(status)
        if found is None:
            every = {t.id: status for section in detail.sections for t in section.topics}
            found = kept.diagrams[status] = lay_out(detail, every)
        return found

    def _node(self, kept: _Version, node: TopicNode, status: str) -> TopicNode:
        if node.status == status:
            return node
        key = (node.topic.id, status)
        found = kept.nodes.get(key)
        if found is None:
            found = kept.nodes[key] = dataclasses.replace(node, status=status)
        return found

    def _context(self, page: RoadmapPage, learner: Learner | None) -> dict[str, Any]:
        return {
            "roadmap": page.roadmap,
            "learner": learner,
            "titles": page.titles,
            "coverage": self.coverage.get(page.roadmap.slug),
            "refused": None,
            "refused_topic": None,
            "form": None,
        }

    def _render(
        self,
        template: str,
        page: RoadmapPage,
        learner: Learner,
        section: SectionNode | None = None,
        node: TopicNode | None = None,
    ) -> str:
        return self._template(template).render(
            self._context(page, learner),
            visitor=_Nav(None),
            section=section,
            node=node,
        )


def _own_key(kind: str, topic_id: str, status: str, learner: Learner) -> tuple[Any, ...]:
    """Everything a piece with a learner's note or resources shows: the topic in its status,
    the note's revision and Markdown (so its HTML), each resource (and its link check). Two
    learners with the same have the same piece, but for the CSRF token, which goes in last."""
    saved = learner.notes.get(topic_id)
    note = (saved.revision, saved.note.markdown) if saved else None
    resources = (
        tuple(
            (r.id, r.title, r.url, r.kind, r.dead, r.checked_at)
            for r in learner.resources.get(topic_id, ())
        )
        if kind == "panel"
        else ()
    )
    return (kind, topic_id, status, note, resources)


def _no_holes(hole: Hole) -> bytes:
    raise AssertionError(f"a stranger's page has no holes, not {hole.kind}")
