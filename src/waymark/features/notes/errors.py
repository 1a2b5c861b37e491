"""Errors of notes and resources, each with its stable code."""

from __future__ import annotations

from waymark.kernel.errors import Conflict, WaymarkError


class PreconditionFailed(WaymarkError):
    """`If-Match` named a version of the note that is not the current one (or there is none):
    someone changed it since the client read it, and nothing was written."""

    status = 412
    code = "precondition-failed"
    title = "The note is not at the version you named"


def changed_meanwhile(what: str) -> Conflict:
    """A change that lost every conditional write to other changes of the same document."""
    return Conflict(f"the {what} kept changing while this was saved; try again")
