"""The accounts feature, as the composition root builds it and other features use it.

Its use cases are grouped by what they are about, one module each: `registration`
(signing up, confirming an address), `credentials` (passwords as a way in: sign-in,
re-authentication, change, reset), `profile` (the account's own data, moving address,
deletion), `administration` (the directory of accounts and their platform roles), `audit`
(the log of authentication events); `links` mails single-use links and notices, `passwords`
holds the policy. Other features see `Account` views, never rows.
"""

from __future__ import annotations

from datetime import datetime

from waymark.features.accounts.administration import Administration
from waymark.features.accounts.audit import AuditLog
from waymark.features.accounts.credentials import Credentials
from waymark.features.accounts.jobs import AccountJobs
from waymark.features.accounts.links import MailedLinks
from waymark.features.accounts.passwords import PasswordPolicy, Passwords
from waymark.features.accounts.profile import Profiles
from waymark.features.accounts.registration import Registration
from waymark.features.accounts.repository import AccountRepository
from waymark.features.accounts.use_cases import AccountUseCases
from waymark.infra.outbox import HandlerRegistry, Outbox
from waymark.infra.security.passwords import PasswordHasher
from waymark.infra.sql.database import Database
from waymark.kernel.clock import Clock
from waymark.kernel.throttle import Throttle


class Accounts:
    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        throttle: Throttle,
        public_url: str,
        clock: Clock,
    ) -> None:
        self.db = db
        self.audit = AuditLog(db=db, clock=clock)
        self.links = MailedLinks(outbox=outbox, public_url=public_url, clock=clock)
        self.passwords = Passwords(hasher, policy)
        tools = AccountUseCases(
            db=db,
            throttle=throttle,
            passwords=self.passwords,
            links=self.links,
            audit=self.audit,
            outbox=outbox,
            clock=clock,
        )
        self.registration = Registration.sharing(tools)
        self.credentials = Credentials.sharing(tools)
        self.profiles = Profiles.sharing(tools, credentials=self.credentials)
        self.administration = Administration.sharing(tools)

    async def delete_expired_tokens(self, now: datetime) -> int:
        """Housekeeping (a scheduled job): delete the mailed links (confirmations, resets,
        changes of address) that expired by `now`; returns how many."""
        async with self.db.transaction() as conn:
            return await AccountRepository(conn).delete_expired_email_tokens(now)

    def register_jobs(self, handlers: HandlerRegistry) -> None:
        AccountJobs(
            registration=self.registration, credentials=self.credentials, audit=self.audit
        ).register(handlers)
