"""The one rule for removing a way in (a linked identity, a passkey): never the last."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.errors import LastWayIn
from waymark.features.auth.identities import IdentityRepository
from waymark.features.auth.passkey_store import PasskeyRepository


async def require_another_way_in(
    conn: AsyncConnection, account_id: uuid.UUID, *, password: bool
) -> None:
    """409 `last-way-in` unless the account keeps a way in once one of its linked identities
    or passkeys is gone: a password way in (`password`: the deployment takes passwords and
    the account has one), or another identity or passkey."""
    if password:
        return
    identities = await IdentityRepository(conn).count_of_user(account_id)
    if identities + await PasskeyRepository(conn).count_of_user(account_id) <= 1:
        raise LastWayIn()
