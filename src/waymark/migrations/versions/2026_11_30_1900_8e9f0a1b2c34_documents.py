"""documents: the embedded document store (notes and learners' own resources)

Revision ID: 8e9f0a1b2c34
Revises: 940a66234875
Create Date: 2026-11-30 19:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e9f0a1b2c34"
down_revision: str | None = "940a66234875"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _binary(length: int) -> sa.types.TypeEngine[str]:
    """Keys compare byte by byte (PostgreSQL: `COLLATE "C"`), as the port orders them."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("owner", _binary(128), nullable=False),
        sa.Column("collection", _binary(64), nullable=False),
        sa.Column("key", _binary(255), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "collection", "key", name=op.f("pk_documents")),
    )
    op.create_table(
        "document_lookups",
        sa.Column("owner", _binary(128), nullable=False),
        sa.Column("collection", _binary(64), nullable=False),
        sa.Column("lookup_key", _binary(255), nullable=False),
        sa.Column("key", _binary(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner", "collection", "key"],
            ["documents.owner", "documents.collection", "documents.key"],
            name=op.f("fk_document_lookups_owner_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "owner", "collection", "lookup_key", "key", name=op.f("pk_document_lookups")
        ),
    )


def downgrade() -> None:
    op.drop_table("document_lookups")
    op.drop_table("documents")
