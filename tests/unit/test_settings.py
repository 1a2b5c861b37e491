from __future__ import annotations

from pathlib import Path

import pytest

from waymark.infra.sql.urls import redact, resolve_database_url
from waymark.settings import Settings


def test_unset_database_url_means_embedded_sqlite_in_var() -> None:
    settings = Settings(_env_file=None, database_url=None, var_dir=Path("var"))  # type: ignore[call-arg]
    assert settings.resolved_database_url == "sqlite+aiosqlite:///var/waymark.db"
    assert settings.profile == "embedded"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_urls_get_async_drivers(url: str, expected: str) -> None:
    assert resolve_database_url(url, Path("var")) == expected


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        resolve_database_url("mysql://u@h/db", Path("var"))


def test_environment_variables_configure_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYMARK_DATABASE_URL", "postgresql://app@db/waymark")
    monkeypatch.setenv("WAYMARK_LOG__LEVEL", "debug")
    monkeypatch.setenv("WAYMARK_PORT", "9000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.profile == "production"
    assert settings.log.level == "debug"
    assert settings.port == 9000


def test_redact_hides_passwords_only() -> None:
    assert (
        redact("postgresql+asyncpg://app:s3cret@db:5432/w")
        == "postgresql+asyncpg://app:***@db:5432/w"
    )
    assert redact("postgresql+asyncpg://app@db/w") == "postgresql+asyncpg://app@db/w"


@pytest.mark.parametrize(
    ("host", "port", "public_url"),
    [
        (None, None, "http://127.0.0.1:8000"),
        ("waymark.internal", "9000", "http://waymark.internal:9000"),
        ("192.0.2.10", "8080", "http://192.0.2.10:8080"),
        ("0.0.0.0", "8000", "http://127.0.0.1:8000"),  # noqa: S104  (what an operator sets)
        ("::", "8000", "http://[::1]:8000"),
        ("::1", "8001", "http://[::1]:8001"),
        ("2001:db8::5", "8000", "http://[2001:db8::5]:8000"),
        ("waymark.internal", "80", "http://waymark.internal"),
    ],
)
def test_the_public_url_defaults_to_where_the_server_listens(
    monkeypatch: pytest.MonkeyPatch, host: str | None, port: str | None, public_url: str
) -> None:
    monkeypatch.delenv("WAYMARK_PUBLIC_URL", raising=False)
    for name, value in (("WAYMARK_HOST", host), ("WAYMARK_PORT", port)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert Settings(_env_file=None).public_url == public_url  # type: ignore[call-arg]


def test_a_public_url_that_is_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYMARK_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("WAYMARK_PORT", "9000")
    monkeypatch.setenv("WAYMARK_PUBLIC_URL", "https://waymark.example.org")
    assert Settings(_env_file=None).public_url == "https://waymark.example.org"  # type: ignore[call-arg]
