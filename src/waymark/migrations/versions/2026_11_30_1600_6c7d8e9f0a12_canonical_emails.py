"""canonical emails: rewrite stored addresses in the form normalize_email gives

Addresses used to be stored as typed, stripped and lower-cased. Since issue 8 every lookup
goes through `normalize_email` (NFC, IDNA A-labels for the domain, and refusals), so a row
stored otherwise would no longer be found, and two rows could be one mailbox:

- a row whose canonical form differs (`ada@bücher.de`, an NFD local part) is rewritten;
- a row that is no address now (`victim.example.com<attacker@evil.com>`, a trailing dot,
  a zero-width character), or a second row of a mailbox that already has one, is disabled
  and signed out everywhere: whatever its "verified" proved, it was not this address. Of
  the rows of one mailbox the one kept is the row already canonical, else an active one,
  else a verified one, else the oldest. Disabled rows keep their string; their pending
  email links die, and so do pending email changes to what is no address now.

The ids of disabled accounts are logged for the operator. Nothing to undo on downgrade: a
canonical address was a valid one before, and a disabled account stays disabled.

Revision ID: 6c7d8e9f0a12
Revises: 5a6b7c8d9e01
Create Date: 2026-11-30 16:00:00+00:00
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from waymark.infra.sql.types import UtcDateTime
from waymark.kernel.email_address import InvalidEmail, normalize_email

revision: str = "6c7d8e9f0a12"
down_revision: str | None = "5a6b7c8d9e01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

users = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("email_verified_at", UtcDateTime()),
    sa.column("disabled_at", UtcDateTime()),
    sa.column("tokens_valid_after", UtcDateTime()),
    sa.column("created_at", UtcDateTime()),
    sa.column("updated_at", UtcDateTime()),
)
email_tokens = sa.table(
    "email_tokens",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("new_email", sa.String()),
    sa.column("used_at", UtcDateTime()),
)


def _canonical(email: str) -> str | None:
    try:
        return normalize_email(email)
    except InvalidEmail:
        return None


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    rows = conn.execute(
        sa.select(
            users.c.id,
            users.c.email,
            users.c.email_verified_at,
            users.c.disabled_at,
            users.c.created_at,
        )
    ).all()
    unusable: list[uuid.UUID] = []
    mailboxes: dict[str, list[Any]] = {}
    for row in rows:
        canonical = _canonical(row.email)
        if canonical is None:
            unusable.append(row.id)
        else:
            mailboxes.setdefault(canonical, []).append(row)
    for canonical, owners in mailboxes.items():
        kept = min(
            owners,
            key=lambda r: (
                r.email != canonical,
                r.disabled_at is not None,
                r.email_verified_at is None,
                r.created_at,
            ),
        )
        unusable += [r.id for r in owners if r is not kept]
        if kept.email != canonical:
            conn.execute(
                sa.update(users)
                .where(users.c.id == kept.id)
                .values(email=canonical, updated_at=now)
            )
    if unusable:
        conn.execute(
            sa.update(users)
            .where(users.c.id.in_(unusable))
            .values(
                disabled_at=sa.func.coalesce(users.c.disabled_at, now),
                tokens_valid_after=now,
                updated_at=now,
            )
        )
        conn.execute(
            sa.update(email_tokens)
            .where(email_tokens.c.user_id.in_(unusable), email_tokens.c.used_at.is_(None))
            .values(used_at=now)
        )
        log.warning(
            "disabled %d account(s) whose address is no address or a second one of a mailbox: %s",
            len(unusable),
            ", ".join(sorted(str(i) for i in unusable)),
        )
    _canonical_email_changes(conn, now)


def _canonical_email_changes(conn: sa.Connection, now: datetime) -> None:
    pending = conn.execute(
        sa.select(email_tokens.c.id, email_tokens.c.new_email).where(
            email_tokens.c.new_email.is_not(None), email_tokens.c.used_at.is_(None)
        )
    ).all()
    for token in pending:
        canonical = _canonical(token.new_email)
        if canonical == token.new_email:
            continue
        changes = {"used_at": now} if canonical is None else {"new_email": canonical}
        conn.execute(sa.update(email_tokens).where(email_tokens.c.id == token.id).values(changes))


def downgrade() -> None:
    pass
