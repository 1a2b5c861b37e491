"""A learner's note, from Markdown to HTML that is safe to put in a page.

CommonMark by markdown-it-py with raw HTML off: `<script>` or `<img onerror=...>` in a note
is shown as the text it is, never as markup. Links keep only the schemes a note has any use
for (http, https, mailto) or none at all (a relative link); anything else (`javascript:`,
`data:`, `vbscript:`, `file:`, in any case, entity-encoded or not, as a link or an autolink)
is left as plain text. Images are not drawn: the pages' CSP loads images from our own origin
only, and a note pointing elsewhere would only log a violation. Headings start at `<h4>`, so
a note's `# Title` stays below the panel's own headings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from waymark.transport.http.offload import OffLoop

ALLOWED_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "nofollow ugc noopener noreferrer"
HEADING_OFFSET: Final = 3
"""`#` becomes `<h4>`: the page has h1, the panel h2, its parts h3."""
_HEAD = re.compile(r"[^/?#]*")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):.*")


def allowed_link(url: str) -> bool:
    """Whether a note may link to `url` (normalized, entities decoded, as markdown-it hands
    it over): a URL of an allowed scheme, or one with no scheme (relative, same site)."""
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):  # never whitespace or controls
        return False
    head = _HEAD.match(url)
    if head is None or ":" not in head.group(0):
        return True  # relative: no scheme before the first `/`, `?` or `#`
    scheme = _SCHEME.fullmatch(head.group(0))
    # Anything else with a colon up front (`%6Aavascript:`) is no URL a person meant.
    return scheme is not None and scheme.group(1).lower() in ALLOWED_SCHEMES


def _link_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    html: str = renderer.renderToken(tokens, idx, options, env)
    return html


def _heading(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    level = min(int(token.tag[1:]) + HEADING_OFFSET, 6)
    token.tag = f"h{level}"
    html: str = renderer.renderToken(tokens, idx, options, env)
    return html


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = allowed_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("heading_open", _heading)
    md.add_render_rule("heading_close", _heading)
    return md


def render(markdown: str) -> Markup:
    """The note as HTML: escaped text, CommonMark's elements, links of allowed schemes."""
    return Markup(_parser().render(markdown))  # noqa: S704  (markdown-it escapes; raw HTML is off)


class NoteRenderer:
    """Renders notes for the pages, off the event loop when there is much of it (64 KiB of
    Markdown is a tenth of a second of parsing; a roadmap page may hold 45 notes), and keeps
    the HTML of the notes it rendered last (a learner reloads a page far more often than
    they change a note)."""

    INLINE_CHARS: Final = 8 * 1024
    """Up to this much Markdown in all is rendered on the event loop: no thread is worth it."""
    CACHED: Final = 256

    def __init__(self) -> None:
        self._cached = functools.lru_cache(maxsize=self.CACHED)(render)
        self._worker = OffLoop(slots=2, wait_seconds=5.0, busy="notes are being drawn; try again")

    async def render(self, markdown: str) -> Markup:
        return (await self.render_all({"": markdown}))[""]

    async def render_all(self, notes: Mapping[str, str]) -> dict[str, Markup]:
        """Each note's HTML, by the same keys."""
        if sum(map(len, notes.values())) <= self.INLINE_CHARS:
            return self._all(notes)
        return await self._worker.run(self._all, notes)

    def _all(self, notes: Mapping[str, str]) -> dict[str, Markup]:
        return {key: self._cached(markdown) for key, markdown in notes.items()}
