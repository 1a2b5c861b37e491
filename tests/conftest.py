"""Shared fixtures: each test runs against SQLite and PostgreSQL, in-process over ASGI."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests import databases
from tests.auth_helpers import bearer, login_tokens, register_verified
from tests.config import app_settings, isolate_from_the_shell
from waymark.app import create_app
from waymark.features.roadmaps import document
from waymark.features.roadmaps.service import import_roadmap
from waymark.infra.security.signing_keys import KeyRing
from waymark.infra.sql.database import Database
from waymark.kernel.clock import utcnow
from waymark.kernel.ports import RateLimitDecision
from waymark.settings import Settings

BACKEND_ROADMAP = document.builtin_path("backend")
pytest_plugins = ["tests.xdist_groups", "tests.handler_signatures"]


def pytest_configure(config: pytest.Config) -> None:
    isolate_from_the_shell()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.backend("postgresql")`: run a test only on that database, rather than
    collecting it for the others and skipping there."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        param = getattr(getattr(item, "callspec", None), "params", {}).get("migrated_url")
        (drop if marker and param and param not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(
    request: pytest.FixtureRequest, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database built by the Alembic migrations, one per backend and test worker."""
    if request.param == "sqlite":
        url = databases.sqlite_url(tmp_path_factory.mktemp("sqlite"))
        databases.migrate(url)
        yield url
        return
    # The pid keeps two runs on one server (two engineers, or a run and CI) apart.
    name = f"waymark_test_{worker_id}_{os.getpid()}"
    url = databases.create_postgres_database(name)
    databases.migrate(url)
    yield url
    databases.drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, worker_id: str, tmp_path: Path) -> Iterator[str]:
    """An empty database, never migrated, for this test only."""
    if request.param == "sqlite":
        yield databases.sqlite_url(tmp_path)
        return
    name = f"waymark_fresh_{worker_id}_{os.getpid()}"
    yield databases.create_postgres_database(name)
    databases.drop_postgres_database(name)


@pytest.fixture
async def database_url(migrated_url: str) -> AsyncIterator[str]:
    """The migrated database, emptied after each test."""
    yield migrated_url
    await databases.wipe(migrated_url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return app_settings(database_url=database_url, var_dir=tmp_path / "var")


@pytest.fixture
def mail_dir(settings: Settings) -> Path:
    """Where the app's file mailer writes its mail."""
    return settings.var_dir / "mail"


@pytest.fixture(scope="session")
def signing_keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JWT signing-key file per test worker: an app makes one (an RSA key, some 0.2 s)
    in a var dir that has none, and most tests make an app."""
    path = tmp_path_factory.mktemp("keys") / "jwt-signing-keys.json"
    KeyRing.open(path, now=time.time(), retain_for=3600)
    return path


@pytest.fixture
def app(settings: Settings, signing_keys_file: Path) -> Litestar:
    """The app of `settings`, its signing key the worker's (a copy, mode 0600) unless the
    settings name a key file or the var dir has one already."""
    keys = settings.signing_keys_path
    if settings.auth.signing_keys_file is None and not keys.exists():
        keys.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(signing_keys_file, keys)
        keys.chmod(0o600)
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


class _AllowAll:
    async def hit(
        self, key: str, *, limit: int, period: float, now: float, cost: int = 1
    ) -> RateLimitDecision:
        return RateLimitDecision(
            allowed=True, limit=limit, remaining=limit, reset_after=0, retry_after=0
        )

    async def reset(self, key: str) -> None:
        pass


@pytest.fixture
def unthrottled(app: Litestar) -> None:
    """No rate limits: for tests that send more requests than any limit allows."""
    app.state.container.throttle.limiter = _AllowAll()


@pytest.fixture
async def signed_in(client: AsyncTestClient[Litestar], mail_dir: Path) -> dict[str, str]:
    """The `authorization` header of a verified user who just logged in with a token."""
    email = "signed-in@example.org"
    await register_verified(client, mail_dir, email)
    return bearer(await login_tokens(client, email))


@pytest.fixture
async def backend_roadmap(db: Database) -> None:
    """The built-in backend roadmap, imported."""
    async with db.transaction() as conn:
        await import_roadmap(conn, document.load(BACKEND_ROADMAP), now=utcnow())
