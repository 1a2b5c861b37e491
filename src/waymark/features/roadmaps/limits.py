"""Rate limits of the roadmap routes (see `waymark.kernel.throttle`)."""

from __future__ import annotations

from waymark.kernel.throttle import Rule

# Checking a document is the one public route whose work grows with its input (up to
# document.MAX_DOCUMENT_BYTES, about 0.4 s of parsing at worst): an editor needs a handful a
# minute, not more.
VALIDATE_IP = Rule("validate-ip", 20, 60)
