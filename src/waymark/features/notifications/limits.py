"""Caps of notifications."""

from __future__ import annotations

MAX_PER_ACCOUNT = 200
"""Notifications kept per account: a new one beyond it deletes the oldest read ones first
(then the oldest, when all are unread). Read ones also go after the retention
(`WAYMARK_MAINTENANCE__NOTIFICATION_RETENTION_DAYS`)."""
