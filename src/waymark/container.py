"""Composition root: reads settings, builds the adapters, hands them to the features.

Building a container opens no connection (only the key files are read or created);
`aclose()` releases everything it opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import httpx

from waymark.features.accounts.passwords import PasswordPolicy
from waymark.features.accounts.service import Accounts
from waymark.features.auth.authenticator import Authenticator
from waymark.features.auth.factors import FactorTools, build_factors
from waymark.features.auth.federation import Federation
from waymark.features.auth.jobs import SessionJobs
from waymark.features.auth.mfa import Mfa
from waymark.features.auth.passkeys import Passkeys
from waymark.features.auth.relying_party import RelyingParty
from waymark.features.auth.service import AuthService
from waymark.features.auth.sessions import Sessions
from waymark.features.auth.strategies import Callbacks, build_strategies
from waymark.features.live.service import Live
from waymark.features.live.tickets import Tickets
from waymark.features.notes.service import Notes
from waymark.features.notifications.jobs import NotificationJobs
from waymark.features.notifications.service import Notifications
from waymark.features.ops.service import DatabaseReadiness
from waymark.features.portability.service import Portability
from waymark.features.progress.jobs import ProgressJobs
from waymark.features.progress.schedules import ProgressSchedules
from waymark.features.progress.service import ProgressService
from waymark.features.roadmaps.service import RoadmapCatalog
from waymark.features.teams.service import Teams
from waymark.features.webhooks.service import Webhooks
from waymark.infra.broker import build_broker
from waymark.infra.broker.metrics import BrokerBacklog
from waymark.infra.broker.relay import PublishingRelay
from waymark.infra.broker.worker import PruneProcessedKeys
from waymark.infra.fetch import Fetcher, FetchPolicy, StatusOf
from waymark.infra.mail import build_mailer
from waymark.infra.mail.jobs import SendMailHandler
from waymark.infra.maintenance import Maintenance, housekeeping_jobs
from waymark.infra.observability.metrics import HttpMetrics
from waymark.infra.outbox import HandlerRegistry, Outbox
from waymark.infra.outbox.metrics import OutboxBacklog
from waymark.infra.outbox.relay import OutboxRelay
from waymark.infra.scheduler import ScheduledJobs
from waymark.infra.scheduler.build import build_scheduler
from waymark.infra.scheduler.metrics import ScheduleMetrics
from waymark.infra.security.access_tokens import AccessTokens
from waymark.infra.security.passwords import Argon2Parameters, PasswordHasher
from waymark.infra.security.secret_box import SecretBox
from waymark.infra.security.signing_keys import KeyRing
from waymark.infra.sql.database import Database
from waymark.infra.sql.documents import SqlDocumentStore
from waymark.infra.stores import build_ephemeral_stores
from waymark.kernel.clock import Clock
from waymark.kernel.throttle import Throttle
from waymark.settings import Settings


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = Clock()
        self.db = Database(settings.resolved_database_url, settings.db)
        self.metrics = HttpMetrics()
        self.roadmaps = RoadmapCatalog(
            self.db, cache_seconds=settings.http.roadmap_cache_seconds, clock=self.clock.time
        )

        # Jobs and mail: the outbox is written in the edge's transaction; the relay delivers.
        self.handlers = HandlerRegistry()
        self.outbox = Outbox(self.handlers)
        self.mailer = build_mailer(settings)
        SendMailHandler(self.mailer, sender=settings.mail.sender).register(self.handlers)
        # With WAYMARK_BROKER_URL the relay publishes jobs to the broker (after commit, done
        # once confirmed) and `waymark worker` runs them; unset, the relay runs them here.
        self.broker = build_broker(settings)
        self.relay: OutboxRelay = (
            OutboxRelay.from_settings(self.db, self.handlers, settings.outbox, outbox=self.outbox)
            if self.broker is None
            else PublishingRelay.from_settings(
                self.db, self.handlers, settings.outbox, outbox=self.outbox, broker=self.broker
            )
        )

        # Identity.
        auth = settings.auth
        self.stores = build_ephemeral_stores(settings, self.db)
        self.hasher = PasswordHasher(
            Argon2Parameters(
                memory_cost=auth.argon2_memory_kib,
                time_cost=auth.argon2_time_cost,
                parallelism=auth.argon2_parallelism,
            ),
            max_concurrency=auth.password_hash_concurrency,
        )
        self.keys = KeyRing.open(
            settings.signing_keys_path,
            now=self.clock.time(),
            retain_for=auth.signing_key_retention,
        )
        self.tokens = AccessTokens(
            self.keys,
            issuer=auth.token_issuer,
            audience=auth.token_audience,
            lifetime=auth.access_token_lifetime,
            leeway=auth.token_leeway,
        )
        self.throttle = Throttle(self.stores.rate_limiter, clock=self.clock.time)
        self.accounts = Accounts(
            db=self.db,
            outbox=self.outbox,
            hasher=self.hasher,
            policy=PasswordPolicy(
                min_length=auth.password_min_length, max_length=auth.password_max_length
            ),
            throttle=self.throttle,
            public_url=settings.public_url,
            clock=self.clock,
        )
        self.accounts.register_jobs(self.handlers)
        callbacks = Callbacks.named(auth.callbacks)
        sessions = Sessions(
            tokens=self.tokens,
            sessions=self.stores.sessions,
            families=self.stores.refresh_tokens,
            clock=self.clock,
            claims=callbacks.claims,
        )
        SessionJobs(sessions).register(self.handlers)
        self.auth = AuthService(
            accounts=self.accounts,
            sessions=sessions,
            authenticator=Authenticator(
                tokens=self.tokens,
                sessions=self.stores.sessions,
                families=self.stores.refresh_tokens,
                profiles=self.accounts.profiles,
                clock=self.clock,
            ),
            throttle=self.throttle,
            callbacks=callbacks,
            password_on="password" in auth.strategies,
        )
        # Second factors: every sign-in passes the gate; the factors are entry points
        # (`waymark.second_factors`), those of `auth.factors` on. TOTP secrets (and webhooks'
        # signing secrets) are sealed with a key from a private file beside the signing keys.
        # Passkeys: the relying party is WAYMARK_PUBLIC_URL's host; one answers the
        # challenge too (never turning MFA on by itself).
        relying_party = RelyingParty(settings.public_url)
        self.secret_box = SecretBox.open(settings.secret_key_path)
        passkeys_on = "webauthn" in auth.strategies
        self.mfa = Mfa(
            db=self.db,
            auth=self.auth,
            box=self.secret_box,
            outbox=self.outbox,
            factors=build_factors(
                auth, FactorTools(box=self.secret_box, relying_party=relying_party)
            ),
        )
        self.auth.gate = self.mfa
        # Ways in through other sites (OIDC, GitHub, ...): the strategies settings turn on.
        # Their client never follows redirects nor reads proxies from the environment. It and
        # the fetcher share one TLS context: loading the system's trust store takes 20-40 ms.
        self.tls = httpx.create_ssl_context(trust_env=False)
        self.outbound = httpx.AsyncClient(verify=self.tls, trust_env=False, follow_redirects=False)
        self.federation = Federation(
            db=self.db,
            auth=self.auth,
            strategies=build_strategies(auth, self.outbound),
            public_url=settings.public_url,
            outbox=self.outbox,
            sign_up=auth.provider_sign_up,
        )
        # A fresh sign-in through a linked provider stands in for the password asked again.
        self.accounts.credentials.reauthenticated = self.federation.recently_reauthenticated
        self.passkeys = Passkeys(
            db=self.db, auth=self.auth, relying_party=relying_party, on=passkeys_on
        )

        # Learning.
        self.progress = ProgressService(
            db=self.db, catalog=self.roadmaps, outbox=self.outbox, clock=self.clock
        )
        ProgressJobs(self.progress).register(self.handlers)
        # The scheduled jobs register at the end (`self.schedules`); progress's are built here.
        progress_schedules = ProgressSchedules(
            db=self.db,
            outbox=self.outbox,
            recipients=self.accounts.profiles.digest_recipients,
            accounts=self.accounts.profiles.many,
            public_url=settings.public_url,
            digest_at=settings.scheduler.digest_at,
        )
        # Learners' own documents: notes and resources. The embedded store is SQL JSON
        # columns; a MongoDB adapter comes behind the same port (kernel.ports.DocumentStore).
        self.documents = SqlDocumentStore(self.db)
        self.notes = Notes(store=self.documents, catalog=self.roadmaps, clock=self.clock)
        self.notes.register_jobs(self.handlers)
        # Teams: members and roles, invites, the roadmaps they follow and their progress.
        self.teams = Teams(
            db=self.db,
            clock=self.clock,
            throttle=self.throttle,
            outbox=self.outbox,
            catalog=self.roadmaps,
            progress=self.progress,
            profiles=self.accounts.profiles,
            public_url=settings.public_url,
        )
        self.teams.register_jobs(self.handlers)
        # The notification centre: made from teams' and progress' events, read over REST.
        self.notifications = Notifications(
            db=self.db,
            clock=self.clock,
            outbox=self.outbox,
            retention_days=settings.maintenance.notification_retention_days,
        )
        NotificationJobs(self.notifications, self.teams, self.accounts.profiles).register(
            self.handlers
        )
        # Webhooks: a team's events, signed, to its endpoints, through the SSRF-safe fetcher.
        fetch = settings.fetch
        self.fetcher = Fetcher(
            FetchPolicy.of(
                allow_http=fetch.allow_http,
                allowed_networks=fetch.allowed_networks,
                max_redirects=fetch.max_redirects,
                max_bytes=fetch.max_bytes,
                timeout=fetch.timeout,
            ),
            ssl_context=self.tls,
        )
        self.webhooks = Webhooks(
            db=self.db,
            clock=self.clock,
            throttle=self.throttle,
            outbox=self.outbox,
            teams=self.teams,
            fetcher=self.fetcher,
            public_url=settings.public_url,
            disable_after=settings.webhooks.disable_after_failures,
            retention=timedelta(days=settings.webhooks.log_retention_days),
            box=self.secret_box,
        )
        self.webhooks.register_jobs(self.handlers)
        # Live updates: progress and team events fanned out to every process's streams.
        self.live = Live(
            channels=self.stores.live,
            presence=self.stores.presence,
            teams=self.teams,
            settings=settings.live,
            clock=self.clock.time,
        )
        self.live.register_jobs(self.handlers)
        self.live_tickets = Tickets(
            store=self.stores.live_tickets,
            active=self.accounts.profiles.active,
            throttle=self.throttle,
            clock=self.clock,
            lifetime=settings.live.ticket_seconds,
            per_minute=settings.live.tickets_per_minute,
        )
        # What an account holds, exported as one document and imported back.
        self.portability = Portability(
            accounts=self.accounts,
            auth=self.auth,
            progress=self.progress,
            notes=self.notes,
            notifications=self.notifications,
            clock=self.clock,
            throttle=self.throttle,
        )

        # Operations: scheduled jobs, each feature adding its own; housekeeping is one job
        # per kind of dead row. The scheduler runs in `waymark scheduler`, or in each server
        # process (app.py's lifespan) in the embedded profile; slots run through the outbox.
        self.schedules = ScheduledJobs(self.handlers, overrides=settings.scheduler.cron)
        housekeeping = housekeeping_jobs(self.db, self.stores, settings.maintenance)
        housekeeping.register("expired-team-invites", self.teams.invites.delete_expired)
        housekeeping.register("read-notifications", self.notifications.delete_read)
        housekeeping.register("expired-email-tokens", self.accounts.delete_expired_tokens)
        housekeeping.register("old-webhook-deliveries", self.webhooks.delivering.delete_old)
        housekeeping.register(
            "processed-job-keys",
            PruneProcessedKeys(
                self.db, retention=timedelta(days=settings.maintenance.outbox_retention_days)
            ),
        )
        self.maintenance = Maintenance(housekeeping)
        self.scheduler, self._close_scheduler = build_scheduler(
            settings, self.db, self.outbox, self.schedules, clock=self.clock.now
        )
        housekeeping.register("scheduled-slots", self._prune_scheduled_slots)
        housekeeping.schedule(self.schedules, settings.maintenance.cron)
        progress_schedules.register(self.schedules)
        # Learners' resource links are checked through the SSRF-safe fetcher only (the URLs
        # are theirs to choose), as webhooks are delivered.
        self.link_checker = self.notes.register_schedules(
            self.schedules,
            fetcher=StatusOf(self.fetcher),
            accounts=self.accounts.profiles.enabled_ids,
        )
        self.schedules.check_overrides()
        self.metrics.add_scrape_source("outbox", OutboxBacklog(self.db))
        self.metrics.add_scrape_source("scheduler", ScheduleMetrics(self.scheduler))
        if self.broker is not None:
            self.metrics.add_scrape_source("broker", BrokerBacklog(self.broker))

    def readiness_probes(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """What `/readyz` checks: the database (answers, schema migrated), and Redis when the
        stores live there."""
        probes: dict[str, Callable[[], Awaitable[None]]] = {"database": DatabaseReadiness(self.db)}
        if self.stores.server:
            probes[self.stores.backend] = self.stores.ping
        return probes

    async def _prune_scheduled_slots(self, now: datetime) -> int:
        keep = timedelta(days=self.settings.scheduler.history_days)
        return await self.scheduler.prune_history(now, keep=keep)

    async def aclose(self) -> None:
        await self._close_scheduler()
        if self.broker is not None:
            await self.broker.aclose()
        await self.outbound.aclose()
        await self.roadmaps.aclose()
        await self.stores.aclose()
        await self.db.dispose()
