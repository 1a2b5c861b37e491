"""Roadmaps, their sections and topics, and every published version of their content.

Topics are keyed by a stable id (`databases.postgresql`) that survives edits: an import
updates rows in place and retires what the new content dropped, so learners' progress,
which refers to topic rows, is never orphaned.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from waymark.infra.sql.metadata import metadata
from waymark.infra.sql.types import UtcDateTime

roadmaps = Table(
    "roadmaps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

roadmap_versions = Table(
    "roadmap_versions",
    metadata,
    Column("roadmap_id", ForeignKey("roadmaps.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("document", Text, nullable=False, comment="The imported document, canonical JSON."),
    Column("created_at", UtcDateTime(), nullable=False),
)

roadmap_sections = Table(
    "roadmap_sections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("roadmap_id", ForeignKey("roadmaps.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("retired_at", UtcDateTime()),
    UniqueConstraint("roadmap_id", "key"),
)

roadmap_topics = Table(
    "roadmap_topics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("roadmap_id", ForeignKey("roadmaps.id", ondelete="CASCADE"), nullable=False),
    Column(
        "section_id",
        ForeignKey("roadmap_sections.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("key", String(129), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("position", Integer, nullable=False),
    Column("retired_at", UtcDateTime()),
    UniqueConstraint("roadmap_id", "key"),
    CheckConstraint("kind IN ('core', 'extra')", name="kind"),
)
