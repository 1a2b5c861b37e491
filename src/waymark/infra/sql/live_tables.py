"""The embedded live channels' replay log (`SqlLiveChannels`): one row per event; who is
online in a team's channel (`SqlPresence`): one row per connection that puts them there; and
the WebSocket tickets (`SqlLiveTickets`): one row per ticket not yet used, under its hash.

In `live_events`, `id` orders events across every channel (SQLite's AUTOINCREMENT never
reuses one, even after the newest row is deleted); `prev_id` is the channel's event before
it, so a replay can tell a trimmed log from a quiet channel. `data` is the event's JSON, as
text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from waymark.infra.sql.metadata import metadata

live_events = Table(
    "live_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("channel", String(200), nullable=False),
    Column("prev_id", BigInteger, comment="The channel's previous event; NULL: none before."),
    Column("kind", String(100), nullable=False),
    Column("data", Text, nullable=False, comment="JSON."),
    Column("dedupe_key", String(200), nullable=False),
    Column("created_at", Double, nullable=False, comment="Unix seconds."),
    UniqueConstraint("channel", "dedupe_key"),
    Index("ix_live_events_channel_id", "channel", "id"),
    sqlite_autoincrement=True,
)

live_presence = Table(
    "live_presence",
    metadata,
    Column("room", String(200), primary_key=True),
    Column("holder", String(64), primary_key=True, comment="One connection's own id."),
    Column("account_id", String(36), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("expires_at", Double, nullable=False, comment="Unix seconds."),
    Index("ix_live_presence_room_account_id", "room", "account_id"),
)

live_tickets = Table(
    "live_tickets",
    metadata,
    Column("ticket_hash", String(128), primary_key=True),
    Column("account_id", String(128), nullable=False),
    Column("issued_at", Double, nullable=False, comment="Unix seconds."),
    Column("expires_at", Double, nullable=False, index=True, comment="Unix seconds."),
)
