"""Database URL handling shared by the app, the CLI and the migrations."""

from __future__ import annotations

from pathlib import Path

_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def resolve_database_url(url: str | None, var_dir: Path) -> str:
    """Return an async SQLAlchemy URL; no URL means the embedded SQLite file in `var_dir`."""
    if not url:
        return f"sqlite+aiosqlite:///{(var_dir / 'waymark.db').as_posix()}"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _ASYNC_DRIVERS:
        supported = ", ".join(sorted(_ASYNC_DRIVERS))
        raise ValueError(f"unsupported database URL scheme {scheme!r}; use one of: {supported}")
    return f"{_ASYNC_DRIVERS[scheme]}://{rest}"


def redact(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
