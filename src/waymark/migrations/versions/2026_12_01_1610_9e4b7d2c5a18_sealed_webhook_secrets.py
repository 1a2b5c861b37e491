"""sealed webhook secrets: the signing secrets of webhook endpoints, sealed at rest with the
secret box (AES-256-GCM, bound to the endpoint's id and the column), as TOTP secrets are

Revision ID: 9e4b7d2c5a18
Revises: 3d8f2b6a1c57
Create Date: 2026-12-01 16:10:00+00:00

The rows there are sealed with the key the app uses (`Settings.secret_key_path`, or the
alembic config's `secret_key_path` attribute, which `waymark db upgrade` sets): created if it
is missing, as the app would create it, except in production, which refuses to start without
it and so refuses here too (`waymark keys secret-box` makes it). The key is only looked for
when there is a secret to seal. A downgrade opens them again (with the same key).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from waymark.infra.security.secret_box import SecretBox
from waymark.settings import Settings

revision: str = "9e4b7d2c5a18"
down_revision: str | None = "3d8f2b6a1c57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED = "AES-256-GCM sealed (infra.security.secret_box), bound to this row and column."
ROLES = ("secret", "previous_secret")


def _aad(webhook_id: uuid.UUID, role: str) -> bytes:
    # As `waymark.features.webhooks.signing.secret_aad` (a migration keeps its own copy).
    return f"webhook_endpoints.{role}:{webhook_id}".encode()


def _box() -> SecretBox:
    settings = Settings()
    configured = context.config.attributes.get("secret_key_path")
    path = Path(configured) if configured is not None else settings.secret_key_path
    if settings.environment == "production" and not path.exists():
        raise RuntimeError(
            f"no secret-sealing key at {path} to seal the webhooks' signing secrets with: "
            "create it once (`waymark keys secret-box`) beside the signing keys, then migrate"
        )
    return SecretBox.open(path)


def _endpoints(columns: Mapping[str, sa.types.TypeEngine[Any]]) -> sa.TableClause:
    return sa.table(
        "webhook_endpoints",
        sa.column("id", sa.Uuid()),
        *(sa.column(name, kind) for name, kind in columns.items()),
    )


def upgrade() -> None:
    _rewrite(
        sa.String(128),
        sa.LargeBinary(),
        lambda box, aad, plain: box.seal(plain.encode(), aad=aad),
        comment=SEALED,
    )


def downgrade() -> None:
    _rewrite(
        sa.LargeBinary(),
        sa.String(128),
        lambda box, aad, sealed: box.unseal(sealed, aad=aad).decode(),
        comment=None,
    )


def _rewrite(
    old: sa.types.TypeEngine[Any],
    new: sa.types.TypeEngine[Any],
    change: Callable[[SecretBox, bytes, Any], Any],
    *,
    comment: str | None,
) -> None:
    """Both secret columns, each value changed with the box (sealed, or opened), under the
    same names and a new type."""
    conn = op.get_bind()
    before = _endpoints(dict.fromkeys(ROLES, old))
    after = _endpoints({f"new_{role}": new for role in ROLES})
    rows = conn.execute(sa.select(before)).all()
    box = _box() if rows else None  # before any change: a missing key changes nothing
    with op.batch_alter_table("webhook_endpoints") as batch:
        for role in ROLES:
            batch.add_column(sa.Column(f"new_{role}", new, nullable=True))
    for row in rows:
        assert box is not None
        values = {
            f"new_{role}": change(box, _aad(row.id, role), value)
            for role in ROLES
            if (value := getattr(row, role)) is not None
        }
        conn.execute(after.update().where(after.c.id == row.id).values(**values))
    with op.batch_alter_table("webhook_endpoints") as batch:
        for role in ROLES:
            batch.drop_column(role)
        for role in ROLES:
            batch.alter_column(
                f"new_{role}",
                new_column_name=role,
                existing_type=new,
                nullable=role == "previous_secret",
                comment=comment,
            )
