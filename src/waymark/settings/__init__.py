"""One settings object for the whole service, read from `WAYMARK_*` environment variables.

Unset infrastructure URLs mean the embedded profile: SQLite in `var/`, everything in-process.
Nested groups use a double underscore: `WAYMARK_LOG__LEVEL=debug`.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from waymark.settings.broker import BROKER_SCHEMES
from waymark.settings.broker import BrokerSettings as BrokerSettings
from waymark.settings.jobs import MaintenanceSettings as MaintenanceSettings
from waymark.settings.jobs import OutboxSettings as OutboxSettings
from waymark.settings.live import LiveSettings as LiveSettings
from waymark.settings.outbound import FetchSettings as FetchSettings
from waymark.settings.outbound import WebhookSettings as WebhookSettings
from waymark.settings.scheduler import SchedulerSettings as SchedulerSettings

_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
OWASP_ARGON2_MEMORY_KIB = 19_456
OWASP_ARGON2_TIME_COST = 2
WELL_KNOWN_PASSWORDS = frozenset(
    {"admin", "changeme", "change-me", "guest", "password", "postgres", "root", "secret", "waymark"}
)
"""Passwords that ship as defaults somewhere (images, tutorials, compose files)."""


class LogSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    access: bool = Field(default=True, description="Log one event per HTTP request.")


class HttpSettings(BaseModel):
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Cap on JSON request bodies (413 above it): twice the largest one the API "
        "takes, a password change with both passwords at their longest, written as \\u escapes. "
        "Roadmap documents sent to /roadmaps/validate have their own 256 KiB cap.",
    )
    backpressure: int | None = Field(
        default=None,
        ge=1,
        description="Requests in flight per worker before Granian stops accepting; unset: "
        "Granian's default (its backlog). Beyond the pool, requests wait at most the pool "
        "timeout and get a 503, so this need not follow the pool size.",
    )
    workers_kill_timeout: int = Field(
        default=10,
        ge=1,
        description="Seconds `waymark serve` lets a worker take to stop after SIGTERM "
        "(live streams end within `live.stop_grace_seconds`, then requests in flight "
        "finish, then the lifespan's shutdown) before it kills it.",
    )
    max_in_flight: int = Field(
        default=640,
        ge=1,
        description="Requests worked on at once per worker; one more gets 503 with "
        "Retry-After at once (health, readiness and metrics are never refused).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed.",
    )
    fast_routes: bool = Field(
        default=True,
        description="Answer the hottest GETs (the roadmap, a topic, /me, a progress view) "
        "before routing, by the same code as their routes; false: the framework answers "
        "everything (for comparing, or ruling it out).",
    )
    roadmap_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a process serves a roadmap from memory before re-reading it.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (`https://app.example.org`, no path) of other front-ends whose "
        "browsers may call the API with credentials. Empty: no cross-origin access.",
    )
    cors_max_age: int = Field(
        default=600,
        ge=600,
        le=7200,
        description="Seconds a browser keeps a CORS preflight answer (Chromium caps it at 7200).",
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins_only(cls, origins: list[str]) -> list[str]:
        return [_origin(origin) for origin in origins]


class DatabaseSettings(BaseModel):
    pool_size: int = Field(
        default=15,
        ge=1,
        description="Connections per process, opened as needed and then kept: no overflow "
        "connections, which the pool would close and reopen under load.",
    )
    hot_pool_size: int = Field(
        default=10,
        ge=1,
        description="PostgreSQL connections per process for the reads made on every request "
        "(the caller's account): the driver's own, beside the pool above.",
    )
    pool_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for a connection.")
    echo: bool = False


class RedisSettings(BaseModel):
    key_prefix: str = Field(default="waymark:", description="Prefix of every key Waymark writes.")
    max_connections: int = Field(default=50, ge=1, description="Connections per process.")
    pool_timeout: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a free connection before failing."
    )
    socket_timeout: float = Field(default=2.0, gt=0, description="Seconds to wait for a reply.")
    connect_timeout: float = Field(default=2.0, gt=0, description="Seconds to connect.")


class MailSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="Unset: one .eml file per message in <var_dir>/mail/. "
        "smtp://host:port, smtp+starttls://user:pass@host:port or smtps://user:pass@host:port.",
    )
    sender: str = Field(default="Waymark <no-reply@localhost>", description="The From header.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per SMTP network step.")


class SignInProvider(BaseModel):
    """A way in through another site (`auth.providers.<name>`, docs/sign-in.md): its
    strategy, the client registered there, where it lives (or a `preset`)."""

    strategy: str = Field(default="oidc", min_length=1, description="The strategy's name.")
    preset: Literal["", "google", "github"] = ""
    label: str = Field(default="", description="Shown as `Sign in with <label>`.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    issuer: str = Field(default="", description="OIDC: the issuer, exactly as its tokens say.")
    discovery_url: str = Field(
        default="", description="OIDC: unset, <issuer>/.well-known/openid-configuration."
    )
    scopes: list[str] = Field(default_factory=list, description="Unset: the strategy's own.")
    endpoints: dict[str, str] = Field(
        default_factory=dict,
        description="OAuth 2.0 without discovery (github): authorize, token, api URLs.",
    )


class AuthSettings(BaseModel):
    access_token_lifetime: float = Field(
        default=600.0, ge=60, le=3600, description="Seconds an access JWT stays valid."
    )
    token_leeway: float = Field(
        default=60.0, ge=0, le=60, description="Clock skew allowed on exp/nbf/iat (seconds)."
    )
    token_issuer: str = Field(default="waymark", min_length=1, description="The `iss` claim.")
    token_audience: str = Field(default="waymark-api", min_length=1, description="The `aud` claim.")
    signing_key_retention: float = Field(
        default=1200.0,
        gt=0,
        description="Seconds a rotated-out signing key keeps verifying; at least "
        "access_token_lifetime + token_leeway (checked at start).",
    )
    signing_keys_file: Path | None = Field(
        default=None, description="Unset: <var_dir>/jwt-signing-keys.json, created 0600."
    )
    password_hash_concurrency: int = Field(
        default=2, ge=1, description="argon2 hashes running at once per process (~cores)."
    )
    argon2_memory_kib: int = Field(
        default=OWASP_ARGON2_MEMORY_KIB,
        ge=8,
        description="OWASP minimum, and the least any environment but `test` accepts.",
    )
    argon2_time_cost: int = Field(
        default=OWASP_ARGON2_TIME_COST,
        ge=1,
        description="OWASP minimum, and the least any environment but `test` accepts.",
    )
    argon2_parallelism: int = Field(default=1, ge=1)
    password_min_length: int = Field(default=8, ge=8, le=64)
    password_max_length: int = Field(default=1024, ge=64, le=1024)
    strategies: list[str] = Field(
        default_factory=lambda: ["password", "webauthn"],
        description="Ways in that are on: `password`, `webauthn` (passkeys), and the names "
        "of `providers`.",
    )
    providers: dict[str, SignInProvider] = Field(
        default_factory=dict, description="Sign-in providers by name (the URL's segment)."
    )
    factors: list[str] = Field(
        default_factory=lambda: ["totp", "recovery", "email", "webauthn"],
        description="Second factors that are on, in the order the challenge offers them "
        "(`waymark.second_factors` entry points): `totp` (an authenticator app), `recovery` "
        "(recovery codes), `email` (codes by mail), `webauthn` (a passkey; only with "
        "`webauthn` in `strategies` too). docs/sign-in.md.",
    )
    callbacks: str = Field(
        default="",
        description="`module:object` with `sign_in` and `claims` hooks (docs/sign-in.md).",
    )
    provider_sign_up: bool = Field(
        default=True,
        description="Whether a sign-in through a provider with an identity nobody linked and "
        "a verified address no account has makes a new account (no password).",
    )


class Settings(BaseSettings):
    """Read from `WAYMARK_*` variables and a dotenv file: `.env` in the working directory, or
    the file `WAYMARK_ENV_FILE` names (empty: none). Values given here win over both."""

    model_config = SettingsConfigDict(
        env_prefix="WAYMARK_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    def __init__(self, **values: Any) -> None:
        values.setdefault("_env_file", os.environ.get("WAYMARK_ENV_FILE", ".env") or None)
        super().__init__(**values)

    environment: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    var_dir: Path = Path("var")
    public_url: str = Field(
        default="",
        description="Where users reach Waymark; links in mails point here. Unset: "
        "http://HOST:PORT from `host` and `port` (see `local_url`).",
    )
    database_url: str | None = None
    redis_url: str | None = None
    broker_url: str | None = Field(
        default=None,
        description="Unset: jobs run in each server process's outbox relay. amqp://, redis:// or "
        "sqs://: the relay publishes them to that broker and `waymark worker` runs them.",
    )

    log: LogSettings = LogSettings()
    http: HttpSettings = HttpSettings()
    db: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    mail: MailSettings = MailSettings()
    outbox: OutboxSettings = OutboxSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    fetch: FetchSettings = FetchSettings()
    webhooks: WebhookSettings = WebhookSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    live: LiveSettings = LiveSettings()
    broker: BrokerSettings = BrokerSettings()
    auth: AuthSettings = AuthSettings()

    @field_validator("database_url")
    @classmethod
    def _known_database_scheme(cls, url: str | None) -> str | None:
        if url:
            resolve_database_url(url, Path("var"))  # raises, naming the supported schemes
        return url or None

    @field_validator("broker_url")
    @classmethod
    def _known_broker_scheme(cls, url: str | None) -> str | None:
        if url and urlsplit(url).scheme not in BROKER_SCHEMES:
            raise ValueError(f"unsupported broker URL; use one of: {', '.join(BROKER_SCHEMES)}")
        return url or None

    @model_validator(mode="after")
    def _owasp_argon2_outside_tests(self) -> Self:
        # Cheap hashing keeps the test suite fast; nothing else may ask for it.
        if self.environment != "test" and (
            self.auth.argon2_memory_kib < OWASP_ARGON2_MEMORY_KIB
            or self.auth.argon2_time_cost < OWASP_ARGON2_TIME_COST
        ):
            raise ValueError(
                f"argon2 below the OWASP minimum (m={OWASP_ARGON2_MEMORY_KIB} KiB, "
                f"t={OWASP_ARGON2_TIME_COST}) is for WAYMARK_ENVIRONMENT=test only"
            )
        return self

    @model_validator(mode="after")
    def _public_url_from_host_and_port(self) -> Self:
        if not self.public_url:
            self.public_url = local_url(self.host, self.port)
        return self

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL in use: the configured one, or the embedded SQLite file."""
        return resolve_database_url(self.database_url, self.var_dir)

    @property
    def profile(self) -> Literal["embedded", "production"]:
        return "embedded" if self.resolved_database_url.startswith("sqlite") else "production"

    @property
    def scheduler_in_process(self) -> bool:
        """Whether each server process runs the scheduler (see `SchedulerSettings`)."""
        if self.scheduler.in_process is not None:
            return self.scheduler.in_process
        return self.profile == "embedded"

    @property
    def browser_origins(self) -> list[str]:
        """The origins whose pages may open a connection with a browser's credentials: the
        public URL's own, and `http.cors_origins`."""
        public = urlsplit(self.public_url)
        own = _origin(f"{public.scheme}://{public.netloc}")
        return list(dict.fromkeys([own, *self.http.cors_origins]))

    @property
    def signing_keys_path(self) -> Path:
        return self.auth.signing_keys_file or self.var_dir / "jwt-signing-keys.json"

    @property
    def secret_key_path(self) -> Path:
        """The AES-256 key that seals secrets at rest (TOTP secrets, webhooks' signing secrets),
        beside the signing keys."""
        return self.signing_keys_path.with_name("secret-box.key")

    def production_refusals(self) -> list[str]:
        """Why these settings must not serve with `environment=production`: a secret that is
        missing or a well-known default. Empty when they may."""
        if self.environment != "production":
            return []
        refusals = []
        if not self.signing_keys_path.exists():
            refusals.append(
                f"no signing keys at {self.signing_keys_path}: each process would make its own, "
                "and tokens from one would fail on the next. Create them once "
                "(`waymark keys rotate`) and give every process the same file "
                "(WAYMARK_AUTH__SIGNING_KEYS_FILE)"
            )
        if not self.secret_key_path.exists():
            refusals.append(
                f"no secret-sealing key at {self.secret_key_path}: each process would make its "
                "own, and secrets sealed by one (TOTP, webhooks') would not open on the next. "
                "Create it once "
                "(`waymark keys secret-box`) beside the signing keys, for every process"
            )
        for name, url in (
            ("WAYMARK_DATABASE_URL", self.database_url),
            ("WAYMARK_REDIS_URL", self.redis_url),
            ("WAYMARK_BROKER_URL", self.broker_url),
            ("WAYMARK_MAIL__URL", self.mail.url),
        ):
            password = urlsplit(url).password if url else None
            if password is not None and unquote(password).lower() in WELL_KNOWN_PASSWORDS:
                refusals.append(f"{name} uses a well-known default password")
        for name, provider in self.auth.providers.items():
            urls = [provider.issuer, provider.discovery_url, *provider.endpoints.values()]
            if any(url and urlsplit(url).scheme != "https" for url in urls):
                refusals.append(
                    f"sign-in provider {name!r} is reached over plain http: its codes, tokens "
                    "and keys would travel in clear"
                )
            if not provider.client_secret.get_secret_value():
                refusals.append(f"sign-in provider {name!r} has no client secret")
        if self.fetch.allow_http or self.fetch.allowed_networks:
            refusals.append(
                "WAYMARK_FETCH__ALLOW_HTTP or WAYMARK_FETCH__ALLOWED_NETWORKS is set: webhooks "
                "could reach plain http or internal addresses (they are for tests only)"
            )
        if urlsplit(self.public_url).scheme != "https":
            refusals.append(
                "WAYMARK_PUBLIC_URL is not https: browsers drop the Secure session cookie, "
                "and links in mails would travel in clear"
            )
        return refusals


class UnsafeSettings(ValueError):
    """Settings that production refuses to start with; the message lists every reason."""

    def __init__(self, refusals: list[str]) -> None:
        super().__init__(
            "refusing to start in production:\n" + "\n".join(f"- {r}" for r in refusals)
        )
        self.refusals = refusals


def require_safe(settings: Settings) -> None:
    """Raise UnsafeSettings if `settings.production_refusals()` lists anything."""
    refusals = settings.production_refusals()
    if refusals:
        raise UnsafeSettings(refusals)


def resolve_database_url(url: str | None, var_dir: Path) -> str:
    """Return an async SQLAlchemy URL; no URL means the embedded SQLite file in `var_dir`."""
    if not url:
        return f"sqlite+aiosqlite:///{(var_dir / 'waymark.db').as_posix()}"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _ASYNC_DRIVERS:
        supported = ", ".join(sorted(_ASYNC_DRIVERS))
        raise ValueError(f"unsupported database URL scheme {scheme!r}; use one of: {supported}")
    return f"{_ASYNC_DRIVERS[scheme]}://{rest}"


def _origin(value: str) -> str:
    """`value` as a browser's `Origin` header names it (`scheme://host[:port]`, lower case,
    the default port left out); anything that is not one origin alone is refused."""
    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or "*" in value
    ):
        raise ValueError(f"{value!r} is not an origin like https://app.example.org")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def local_url(host: str, port: int) -> str:
    """The URL a browser on this machine opens for a server listening on `host`:`port`. A
    wildcard address (0.0.0.0, ::) is no place to go to: it becomes the loopback address."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host or "127.0.0.1"  # a host name, or empty: every interface
    else:
        if address.is_unspecified:
            address = ipaddress.ip_address("127.0.0.1" if address.version == 4 else "::1")
        name = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{name}" if port == 80 else f"http://{name}:{port}"
