"""One settings object for the whole service, read from `WAYMARK_*` environment variables.

Unset infrastructure URLs mean the embedded profile: SQLite in `var/`, everything in-process.
Nested groups use a double underscore: `WAYMARK_LOG__LEVEL=debug`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from waymark.infra.sql.urls import resolve_database_url


class LogSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    access: bool = Field(default=True, description="Log one event per HTTP request.")


class HttpSettings(BaseModel):
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Request body cap.")
    roadmap_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a process serves a roadmap from memory before re-reading it.",
    )


class DatabaseSettings(BaseModel):
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=5, ge=0)
    pool_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for a connection.")
    echo: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WAYMARK_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    var_dir: Path = Path("var")
    database_url: str | None = None

    log: LogSettings = LogSettings()
    http: HttpSettings = HttpSettings()
    db: DatabaseSettings = DatabaseSettings()

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL in use: the configured one, or the embedded SQLite file."""
        return resolve_database_url(self.database_url, self.var_dir)

    @property
    def profile(self) -> Literal["embedded", "production"]:
        return "embedded" if self.resolved_database_url.startswith("sqlite") else "production"
