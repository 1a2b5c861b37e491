"""What every account use case works with: the composition root builds one set, and each
group of use cases (`registration`, `credentials`, `profile`) holds it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Self

from waymark.features.accounts.audit import AuditLog
from waymark.features.accounts.links import MailedLinks
from waymark.features.accounts.passwords import Passwords
from waymark.infra.outbox import Outbox
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.throttle import Throttle


@dataclass(kw_only=True, eq=False)
class AccountUseCases:
    db: Database
    throttle: Throttle
    passwords: Passwords
    links: MailedLinks
    audit: AuditLog
    outbox: Outbox
    clock: Clock

    @classmethod
    def sharing(cls, tools: AccountUseCases, **extra: Any) -> Self:
        """A group of use cases working with the same tools as `tools`."""
        shared = {field.name: getattr(tools, field.name) for field in fields(AccountUseCases)}
        return cls(**shared, **extra)
