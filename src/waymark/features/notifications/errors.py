"""Errors of notifications, each with its stable code. Another account's notification is
one that does not exist (404), never a 403: ids cannot be probed."""

from __future__ import annotations

from waymark.kernel.errors import NotFound


class NoSuchNotification(NotFound):
    code = "no-such-notification"
    title = "No such notification"
