"""Jinja filters of the pages: times in the reader's zone, text as paragraphs and code, a
link that leads on to a local path (`with_next`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from waymark.kernel.paths import with_next

_BLANK_LINES = re.compile(r"\n\s*\n")


def local_time(moment: datetime, time_zone: str = "UTC") -> str:
    """`2026-11-30 18:22` in `time_zone` (an IANA name the account chose)."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")


def paragraphs(text: str) -> Markup:
    """Plain text as paragraphs (blank lines between them), escaped."""
    parts = [p.strip() for p in _BLANK_LINES.split(text.strip()) if p.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(inline_code(p)) for p in parts)


def inline_code(text: str) -> Markup:
    """Text with its `backticked` spans as <code>, escaped."""
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an unmatched backtick: no code at all
        return escape(text)
    return Markup("").join(
        Markup("<code>{}</code>").format(piece) if i % 2 else escape(piece)
        for i, piece in enumerate(pieces)
    )


def wait_in_words(seconds: int) -> str:
    """How long `Retry-After` asks to wait, as a person says it."""
    if seconds < 60:
        return f"{seconds} second{'s' * (seconds != 1)}"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' * (minutes != 1)}"
    hours = -(-minutes // 60)
    return f"{hours} hour{'s' * (hours != 1)}"


FILTERS: Final[dict[str, Callable[..., Any]]] = {
    "local_time": local_time,
    "paragraphs": paragraphs,
    "inline_code": inline_code,
    "wait_in_words": wait_in_words,
    "with_next": with_next,
}
