"""What the tests of learning progress share: the backend roadmap, learners made straight in
the database, and every read model of a learner in a comparable form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from tests.conftest import BACKEND_ROADMAP
from waymark.features.accounts.tables import users
from waymark.features.progress.service import ProgressService
from waymark.features.progress.tables import (
    progress_days,
    roadmap_progress,
    section_progress,
    topic_progress,
)
from waymark.features.roadmaps import document
from waymark.infra.sql.database import Database
from waymark.kernel.authz import PlatformRole
from waymark.kernel.identity import Account

SPEC = document.load(BACKEND_ROADMAP)
TOPICS = [t.id for s in SPEC.sections for t in s.topics]
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def account(account_id: uuid.UUID, time_zone: str = "Europe/Paris") -> Account:
    return Account(
        id=account_id,
        email=f"{account_id.hex[:8]}@example.org",
        display_name="",
        time_zone=time_zone,
        email_verified=True,
        disabled=False,
        platform_role=PlatformRole.LEARNER,
        team_reminders=True,
        weekly_digest=True,
        tokens_valid_after=WHEN,
        created_at=WHEN,
    )


async def new_account(db: Database) -> Account:
    learner = account(uuid.uuid4())
    async with db.transaction() as conn:
        await conn.execute(
            insert(users).values(
                id=learner.id,
                email=learner.email,
                password_hash="x",
                time_zone=learner.time_zone,
                email_verified_at=WHEN,
                tokens_valid_after=WHEN,
                created_at=WHEN,
                updated_at=WHEN,
            )
        )
    return learner


async def projections(db: Database, account_id: uuid.UUID) -> dict[str, Any]:
    """Every read model of one learner, in a comparable form."""
    snapshot: dict[str, Any] = {}
    async with db.read() as conn:
        for table in (topic_progress, roadmap_progress, section_progress, progress_days):
            rows = await conn.execute(
                select(table).where(table.c.user_id == account_id).order_by(*table.primary_key)
            )
            snapshot[table.name] = [dict(row._mapping) for row in rows]
    return snapshot


async def rebuilt(service: ProgressService, db: Database, learner: Account) -> dict[str, Any]:
    async def zone(_: uuid.UUID) -> str:
        return learner.time_zone

    await service.projections.rebuild(account_id=learner.id, time_zone_of=zone)
    return await projections(db, learner.id)
