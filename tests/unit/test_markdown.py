"""Notes rendered from Markdown are safe in a page: no raw HTML gets through, and no link
goes anywhere but http, https, mailto or this site, whatever a learner types."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waymark.web.markdown import NoteRenderer, allowed_link, render

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=//evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1)  )",
    "[x](<javascript:alert(1)>)",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript&#x3A;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](java&#09;script:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](DATA:text/html,<script>alert(1)</script>)",
    "[x](file:///etc/passwd)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<data:text/html,x>",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "![x](javascript:alert(1))",
    "![x](https://evil.example/pixel.png)",
    '[x](https://example.org "a\\" onmouseover=\\"alert(1)")',
    "<!-- x --><p onclick=alert(1)>y</p>",
]


class Tags(HTMLParser):
    """Every element and attribute of some HTML, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(html: str) -> list[tuple[str, dict[str, str | None]]]:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags.tags


SAFE_TAGS = {"p", "a", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "hr"}
SAFE_TAGS |= {"h4", "h5", "h6", "br"}
SAFE_SCHEME = re.compile(r"^(?:https?|mailto):|^[^:/?#]*(?:[/?#]|$)", re.IGNORECASE)


def assert_safe(html: str) -> None:
    for tag, attrs in parsed(html):
        assert tag in SAFE_TAGS, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            assert name in {"href", "title", "rel", "start", "class"}, html
            if name == "href":
                assert value is not None
                assert SAFE_SCHEME.match(value), html


@pytest.mark.parametrize("markdown", HOSTILE)
def test_hostile_notes_render_as_text_and_harmless_links(markdown: str) -> None:
    html = str(render(markdown))
    assert_safe(html)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "<iframe" not in lowered
    assert "<svg" not in lowered
    assert 'href="javascript' not in lowered
    assert 'href="data' not in lowered


def test_raw_html_is_shown_as_the_text_it_is() -> None:
    assert str(render("<script>alert(1)</script>")) == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )
    assert "&lt;img src=x onerror=" in render("<img src=x onerror=alert(1)>")


def test_markdown_a_learner_writes_still_renders() -> None:
    html = str(
        render(
            "# Plan\n\nRead **the docs**, then *try* `EXPLAIN`.\n\n"
            "- [PostgreSQL](https://www.postgresql.org/docs/)\n"
            "- <https://use-the-index-luke.com>\n"
            "- [a page here](/roadmaps/backend#topic-databases.redis)\n"
            "- [ask](mailto:me@example.org)\n"
        )
    )
    assert "<h4>Plan</h4>" in html  # below the panel's own headings
    assert "<strong>the docs</strong>" in html
    assert "<code>EXPLAIN</code>" in html
    for href in (
        "https://www.postgresql.org/docs/",
        "https://use-the-index-luke.com",
        "/roadmaps/backend#topic-databases.redis",
        "mailto:me@example.org",
    ):
        assert f'href="{href}" rel="nofollow ugc noopener noreferrer"' in html
    assert_safe(html)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.org/a", True),
        ("HTTP://example.org", True),
        ("mailto:me@example.org", True),
        ("/roadmaps/backend", True),
        ("page#part", True),
        ("?q=a:b", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("tel:+331234", False),
        ("%6Aavascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("", True),
    ],
)
def test_which_links_a_note_may_keep(url: str, allowed: bool) -> None:
    assert allowed_link(url) is allowed


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<",
                ">",
                "[",
                "]",
                "(",
                ")",
                "!",
                "&",
                "#",
                ";",
                ":",
                '"',
                "'",
                "`",
                "*",
                "\n",
                "javascript",
                "JAVA",
                "script",
                "data",
                "&#106;",
                "&#x3A;",
                "%3A",
                "onerror=",
                "img",
                "a href=",
                " ",
                "x",
                "http",
                "\\",
                "/",
            ]
        )
        | st.text(max_size=4),
        max_size=30,
    ).map("".join)
)
def test_whatever_is_typed_the_html_is_safe(markdown: str) -> None:
    assert_safe(str(render(markdown)))


async def test_long_notes_render_off_the_event_loop_with_the_same_result() -> None:
    renderer = NoteRenderer()
    long_note = "*word* " * 4000
    notes = {"a.b": long_note, "c.d": "[x](javascript:alert(1))"}
    assert await renderer.render_all(notes) == {key: render(value) for key, value in notes.items()}
    assert await renderer.render("**b**") == render("**b**")
