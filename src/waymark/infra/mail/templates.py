"""Mail bodies from Jinja2 templates: `<name>.txt` (plain text) and `<name>.html` per mail.

The text template sets the subject with `{% set subject = "..." %}`; the HTML one receives it
as `subject`. HTML is autoescaped, text is not. A variable a template needs but the context
lacks raises instead of sending a mail with a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class RenderedMail(NamedTuple):
    subject: str
    text: str
    html: str


class MailTemplates:
    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self.env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.globals["product"] = "Waymark"

    def names(self) -> list[str]:
        """Mails that have both a text and an HTML template."""
        found = set(self.env.list_templates())
        stems = {name.removesuffix(".txt") for name in found if name.endswith(".txt")}
        return sorted(s for s in stems if _NAME.fullmatch(s) and f"{s}.html" in found)

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """The subject, plain text and HTML of mail `name` (e.g. `verify-email`)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid mail template name {name!r}")
        text_module = self.env.get_template(f"{name}.txt").make_module(dict(context))
        subject = " ".join(str(getattr(text_module, "subject", "")).split())
        if not subject:
            raise ValueError(f"mail template {name}.txt sets no subject")
        text = str(text_module).strip() + "\n"
        html = self.env.get_template(f"{name}.html").render({**context, "subject": subject})
        return RenderedMail(subject, text, html)


@cache
def default_templates() -> MailTemplates:
    """The templates shipped in the package, loaded on first use."""
    return MailTemplates()


def render(name: str, context: Mapping[str, Any]) -> RenderedMail:
    """Render one of the shipped mails; see `MailTemplates.render`."""
    return default_templates().render(name, context)
