"""An example second factor (docs/sign-in.md): a code the help desk reads out to someone who
lost their phone and their recovery codes, once the desk has checked on the telephone who is
calling (RFC 8176 `tel`). The desk computes it with `help_desk_code(key, account_id, day)`;
it answers for that account, on that day. An illustration of the interface rather than a
recommendation: a real one would record each code used (this one works all day) and audit
the desk.

A package registers it in its pyproject.toml:

    [project.entry-points."waymark.second_factors"]
    help-desk = "help_desk_factor:HelpDeskFactor"

and a deployment turns it on, with the desk's key (32 random bytes, hex):

    WAYMARK_AUTH__FACTORS='["totp", "recovery", "email", "webauthn", "help-desk"]'
    HELP_DESK_KEY=...

tests/integration/test_mfa_factors.py installs it through the entry-point mechanism and
answers a sign-in's challenge with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.features.auth.factors import FactorTools


def help_desk_code(key: bytes, account_id: uuid.UUID, day: date) -> str:
    """What the desk reads out: 10 hex digits, for one account and one day."""
    message = f"{account_id}:{day.isoformat()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:10]


class HelpDeskFactor:
    kind = "help-desk"
    """Its entry point's name, and the `kind` an answer names."""
    amr = "tel"
    """RFC 8176: confirmed by a telephone call."""
    turns_mfa_on = False
    """A way to answer once MFA is on; never a reason to ask for a second factor."""

    def __init__(self, tools: FactorTools) -> None:
        # `tools` has what Waymark's own factors use (the secret box, the WebAuthn relying
        # party); this one brings its own key.
        self.key = bytes.fromhex(os.environ.get("HELP_DESK_KEY", ""))

    async def enrolled(self, conn: AsyncConnection, user_id: uuid.UUID) -> bool:
        return bool(self.key)  # every account, where the desk has a key

    async def verify(
        self,
        conn: AsyncConnection,
        user_id: uuid.UUID,
        answer: str,
        *,
        now: datetime,
        attempt: str | None = None,
    ) -> str | None:
        if not self.key:
            return None
        expected = help_desk_code(self.key, user_id, now.date())
        return self.amr if hmac.compare_digest(answer.strip().lower(), expected) else None
