from __future__ import annotations

import os
from pathlib import Path

import pytest

from waymark.infra.sql.urls import redact
from waymark.settings import (
    AuthSettings,
    Settings,
    UnsafeSettings,
    require_safe,
    resolve_database_url,
)


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
    monkeypatch.setenv("WAYMARK_MAINTENANCE__CRON", "0 * * * *")
    monkeypatch.setenv("WAYMARK_SCHEDULER__CRON", '{"progress-digest": "0 9 * * 1"}')
    monkeypatch.setenv("WAYMARK_MAINTENANCE__OUTBOX_RETENTION_DAYS", "1.5")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.profile == "production"
    assert settings.log.level == "debug"
    assert settings.port == 9000
    assert (settings.maintenance.cron, settings.maintenance.outbox_retention_days) == (
        "0 * * * *",
        1.5,
    )
    assert settings.scheduler.cron == {"progress-digest": "0 9 * * 1"}
    assert not settings.scheduler_in_process  # production: `waymark scheduler` runs it


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


def _production(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, environment="production", var_dir=tmp_path, **values)  # type: ignore[call-arg,arg-type]


def test_production_refuses_missing_signing_keys_and_plain_http(tmp_path: Path) -> None:
    refusals = _production(tmp_path).production_refusals()
    assert len(refusals) == 3
    assert "no signing keys" in refusals[0]
    assert "no secret-sealing key" in refusals[1]
    assert "not https" in refusals[2]
    with pytest.raises(UnsafeSettings, match="refusing to start in production"):
        require_safe(_production(tmp_path))


@pytest.mark.parametrize(
    "setting",
    [
        {"database_url": "postgresql://waymark:postgres@db/waymark"},
        {"redis_url": "redis://:changeme@cache:6379/0"},
        {"mail": {"url": "smtp+starttls://bot:Password@mail:587"}},
        {"broker_url": "amqp://guest:guest@rabbit:5672/"},
    ],
)
def test_production_refuses_well_known_default_passwords(
    tmp_path: Path, setting: dict[str, object]
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    (tmp_path / "secret-box.key").write_text("{}")
    settings = _production(
        tmp_path,
        public_url="https://waymark.example.org",
        auth={"signing_keys_file": keys},
        **setting,
    )
    (refusal,) = settings.production_refusals()
    assert "well-known default password" in refusal


@pytest.mark.parametrize("fetch", [{"allow_http": True}, {"allowed_networks": ["127.0.0.1/32"]}])
def test_production_refuses_the_fetchers_test_settings(
    tmp_path: Path, fetch: dict[str, object]
) -> None:
    """Webhooks reach only https and public addresses in production."""
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    (tmp_path / "secret-box.key").write_text("{}")
    settings = _production(
        tmp_path, public_url="https://waymark.example.org", auth={"signing_keys_file": keys}
    )
    assert settings.production_refusals() == []
    settings = _production(
        tmp_path,
        public_url="https://waymark.example.org",
        auth={"signing_keys_file": keys},
        fetch=fetch,
    )
    (refusal,) = settings.production_refusals()
    assert "tests only" in refusal


def test_production_starts_with_its_secrets_in_place(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    (tmp_path / "secret-box.key").write_text("{}")
    settings = _production(
        tmp_path,
        public_url="https://waymark.example.org",
        auth={"signing_keys_file": keys},
        database_url="postgresql://waymark:a-long-random-secret@db/waymark",
    )
    assert settings.production_refusals() == []
    require_safe(settings)
    # Development and tests are never refused.
    assert Settings(_env_file=None, var_dir=tmp_path).production_refusals() == []  # type: ignore[call-arg]


def test_an_unknown_broker_scheme_fails_when_settings_load() -> None:
    with pytest.raises(ValueError, match="unsupported broker URL; use one of: amqp, amqps"):
        Settings(_env_file=None, broker_url="kafka://k:9092")  # type: ignore[call-arg]
    assert Settings(_env_file=None, broker_url="").broker_url is None  # type: ignore[call-arg]


def test_an_unknown_database_scheme_fails_when_settings_load() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        Settings(_env_file=None, database_url="mysql://u@h/db")  # type: ignore[call-arg]


def test_create_app_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    from waymark.app import create_app

    with pytest.raises(UnsafeSettings):
        create_app(_production(tmp_path))


def test_tests_read_nothing_from_the_shell() -> None:
    """An exported WAYMARK_REDIS_URL or a developer's .env must not move a test's app onto
    another store (tests/config.py, run by pytest_configure)."""
    leaked = [
        name
        for name in os.environ
        if name.startswith("WAYMARK_") and not name.startswith("WAYMARK_TEST_")
    ]
    assert leaked == ["WAYMARK_ENV_FILE"]
    assert os.environ["WAYMARK_ENV_FILE"] == ""


def test_the_dotenv_file_is_chosen_by_waymark_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / "waymark.env"
    dotenv.write_text("WAYMARK_PORT=9999\n")
    monkeypatch.setenv("WAYMARK_ENV_FILE", str(dotenv))
    assert Settings().port == 9999
    monkeypatch.setenv("WAYMARK_ENV_FILE", "")
    assert Settings().port == 8000


def test_argon2_below_the_owasp_minimum_is_for_tests_only() -> None:
    cheap = AuthSettings(argon2_memory_kib=64, argon2_time_cost=1)
    assert Settings(environment="test", auth=cheap).auth.argon2_memory_kib == 64
    for environment in ("development", "production"):
        with pytest.raises(ValueError, match="OWASP minimum"):
            Settings(environment=environment, auth=cheap)  # type: ignore[arg-type]


def test_browsers_may_connect_from_the_public_urls_origin_and_the_cors_ones() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        public_url="https://Waymark.example:443/app/",
        http={"cors_origins": ["https://app.example.org", "https://waymark.example"]},
    )
    assert settings.browser_origins == ["https://waymark.example", "https://app.example.org"]


def test_production_refuses_a_sign_in_provider_over_plain_http_or_without_secret(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    (tmp_path / "secret-box.key").write_text("{}")
    provider = {"issuer": "http://sso.example.org", "client_id": "waymark", "client_secret": ""}
    settings = _production(
        tmp_path,
        public_url="https://waymark.example.org",
        auth={"signing_keys_file": keys, "providers": {"corp": provider}},
    )
    assert [r.split(":")[0] for r in settings.production_refusals()] == [
        "sign-in provider 'corp' is reached over plain http",
        "sign-in provider 'corp' has no client secret",
    ]
