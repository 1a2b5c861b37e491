"""A page drawn once with holes, filled per request: what the roadmap's page is made of
(`web/drawing.py`).

A template drawn in *stencil mode* (its context's `stencil` is a `Stencil`) calls
`stencil.hole(kind, *args)` where a per-request piece goes, instead of drawing that piece
(`{% if stencil %}{{ stencil.hole("node", section, node) }}{% else %}{% include ... %}`),
and its forms carry `CSRF_HOLE` for the visitor's token. `Stencil.cut` splits what was drawn
into the fixed text between the holes and the holes themselves; `fill` puts the pieces in
and the visitor's token (escaped, as the template would) in every form.

Outside stencil mode (`stencil` is None, the globals' default) the same templates draw the
whole page as before, and `tests/integration/test_page_fast_route.py` holds the two to the
same bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

CSRF_HOLE = f"\x01csrf-{secrets.token_hex(8)}\x01"
"""Drawn in place of the visitor's CSRF token (no character of it is escaped)."""
CSRF_BYTES = CSRF_HOLE.encode()
_MARK = "\x02"


@dataclass(frozen=True)
class Hole:
    kind: str
    args: tuple[Any, ...]


class Stencil:
    """Collects the holes of one drawing (the template's `stencil`)."""

    def __init__(self) -> None:
        self.holes: list[Hole] = []

    def hole(self, kind: str, *args: Any) -> Markup:
        self.holes.append(Hole(kind, args))
        return Markup(f"{_MARK}{len(self.holes) - 1}{_MARK}")  # noqa: S704  (no outside text)

    def cut(self, drawn: str) -> Cut:
        """`drawn` (what the template drew with this stencil) as fixed text and holes."""
        parts: list[bytes | Hole] = []
        for i, text in enumerate(drawn.split(_MARK)):
            parts.append(self.holes[int(text)] if i % 2 else text.encode())
        return Cut(tuple(parts))


@dataclass(frozen=True)
class Cut:
    parts: Sequence[bytes | Hole]
    """The fixed text between the holes, encoded once."""

    def __post_init__(self) -> None:
        # A drawing without holes (a stranger's page), kept cut around its tokens.
        whole = self.parts[0] if len(self.parts) == 1 else None
        around = whole.split(CSRF_BYTES) if isinstance(whole, bytes) else None
        object.__setattr__(self, "_around", around)

    def fill(self, piece: Callable[[Hole], bytes], csrf_token: str) -> bytes:
        """The page: every hole drawn by `piece` (encoded), the visitor's token in every
        form."""
        token = str(escape(csrf_token)).encode()
        around: list[bytes] | None = self._around  # type: ignore[attr-defined]
        if around is not None:
            return token.join(around)
        drawn = b"".join(part if isinstance(part, bytes) else piece(part) for part in self.parts)
        return drawn.replace(CSRF_BYTES, token)
