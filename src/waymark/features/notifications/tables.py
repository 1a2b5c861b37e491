"""In-app notifications: one row per notification of one account.

- `notifications`: keyed by the account and its own sequence number (`seq`: 1, 2, ... per
  account), which orders them (newest first), pages them and says what "everything up to
  this one" is; `id` is random (uuid4), the only id the API shows. `dedupe_key` (the outbox
  message that made it) keeps an event to one notification per account however often its
  handler runs. `read_at` is NULL while unread: the unread count is an index range
  (`ix_notifications_unread`). An account's rows go with it (cascade).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

notifications = Table(
    "notifications",
    metadata,
    Column("account_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False, comment="1, 2, ... per account."),
    Column("id", Uuid, nullable=False, unique=True, comment="Random (uuid4)."),
    Column("kind", String(32), nullable=False),
    Column("text", String(400), nullable=False),
    Column("link", String(400), nullable=True, comment="A path of this site."),
    Column("data", Text, nullable=False, server_default="{}", comment="JSON: what it is about."),
    Column("dedupe_key", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("read_at", UtcDateTime(), nullable=True),
    UniqueConstraint("account_id", "dedupe_key"),
)
Index("ix_notifications_unread", notifications.c.account_id, notifications.c.read_at)
Index("ix_notifications_read_at", notifications.c.read_at)
