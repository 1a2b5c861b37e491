"""The `waymark` command as a user runs it: migrate, import, serve over a real socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.conftest import BACKEND_ROADMAP
from tests.servers import Served, serving, stop, waymark

pytestmark = pytest.mark.slow


def embedded(var_dir: Path) -> dict[str, str]:
    """An embedded install: SQLite under a private var/ directory."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WAYMARK_")}
    return environ | {"WAYMARK_VAR_DIR": str(var_dir), "WAYMARK_LOG__LEVEL": "warning"}


def migrate(env: dict[str, str]) -> dict[str, str]:
    waymark(env, "db", "upgrade")
    waymark(env, "roadmaps", "import", str(BACKEND_ROADMAP))
    return env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh embedded install."""
    return embedded(tmp_path / "var")


@pytest.fixture
def migrated_env(env: dict[str, str]) -> dict[str, str]:
    return migrate(env)


@pytest.fixture(scope="module")
def served_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One migrated install with the backend roadmap, for the module's tests that only read
    from it (the `served` group)."""
    return migrate(embedded(tmp_path_factory.mktemp("served") / "var"))


@pytest.fixture(scope="module")
def server(served_env: dict[str, str]) -> Iterator[Served]:
    """One server for the tests that only read from it (the `served` xdist group keeps them
    on one test worker): starting one, and migrating and importing for it, takes seconds."""
    log = Path(served_env["WAYMARK_VAR_DIR"]).parent / "serve.log"
    with serving(served_env, log) as served:
        yield served


@pytest.mark.xdist_group("served")
def test_served_over_a_socket(server: Served) -> None:
    response = httpx.get(f"{server.base}/api/v1/roadmaps/backend", timeout=5)
    assert response.status_code == 200
    assert response.headers["server"] == "granian"
    body = response.json()
    assert len(body["sections"]) == 8
    assert sum(len(s["topics"]) for s in body["sections"]) == 45
    not_modified = httpx.get(
        f"{server.base}/api/v1/roadmaps/backend",
        headers={"if-none-match": response.headers["etag"]},
        timeout=5,
    )
    assert not_modified.status_code == 304
    assert "x-request-id" in not_modified.headers
    # `make run` ends here: it says, on one line, where to go.
    assert (
        f"Waymark serving on {server.base} (API docs: {server.base}/schema/docs; Ctrl-C stops it)\n"
    ) in server.output()


@pytest.mark.xdist_group("served")
def test_a_second_server_on_a_port_in_use_refuses_to_start(
    server: Served, served_env: dict[str, str]
) -> None:
    """Granian binds with SO_REUSEPORT (so its workers can share the port), so a second
    `waymark serve` on the same port started silently and the kernel split requests between
    the two servers."""
    second = subprocess.Popen(
        [sys.executable, "-m", "waymark", "serve", "--port", str(server.port)],
        env=served_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as `serving` starts one: `stop` ends its group
    )
    try:
        _, err = second.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stop(second)
        second.communicate()
        pytest.fail("the second server is still running after 20 s")
    assert second.returncode == 2, err
    assert f"error (conflict): 127.0.0.1:{server.port} is already in use" in err
    assert server.process.poll() is None
    for _ in range(10):  # connections reach the first server, the only one left
        assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200


def test_the_workers_of_one_server_share_its_port(
    migrated_env: dict[str, str], tmp_path: Path
) -> None:
    with serving(migrated_env, tmp_path / "serve.log", "--workers", "2") as served:
        for _ in range(10):
            assert httpx.get(f"{served.base}/readyz", timeout=5).status_code == 200
        assert "2 worker(s)" in served.output()
        # Every worker's request metrics (none showed: the workers counted in memory), and
        # the outbox's depth, computed by whichever worker answers.
        metrics = httpx.get(f"{served.base}/metrics", timeout=5).text
        ready = 'waymark_http_requests_total{method="GET",route="/readyz",status="200"} 11.0'
        assert ready in metrics  # the first 200 that `serving` waited for, and these ten
        assert 'waymark_outbox_messages{state="pending"} 0.0' in metrics
        assert 'waymark_scrape_source_up{source="outbox"} 1.0' in metrics
        assert "already in use" not in served.output()


@pytest.mark.xdist_group("served")
def test_serve_logs_json_lines_with_request_id_route_status_and_duration(
    served_env: dict[str, str], tmp_path: Path
) -> None:
    env = served_env | {
        "WAYMARK_LOG__LEVEL": "info",
        "WAYMARK_LOG__FORMAT": "json",
        "WAYMARK_LOG__ACCESS": "true",
    }
    stdout = tmp_path / "stdout.log"
    with serving(env, stdout, stderr=tmp_path / "stderr.log") as served:
        response = httpx.get(
            f"{served.base}/api/v1/roadmaps/backend/topics/databases.redis",
            headers={"x-request-id": "e2e-log-line-1"},
            timeout=5,
        )
        assert response.headers["x-request-id"] == "e2e-log-line-1"
        deadline = time.monotonic() + 10
        while "e2e-log-line-1" not in stdout.read_text():
            assert time.monotonic() < deadline, stdout.read_text()
            time.sleep(0.1)
    # Every line, the server's and Granian's, start to shutdown, is one JSON object.
    lines = [msgspec.json.decode(line) for line in stdout.read_text().splitlines()]
    assert all({"event", "level", "logger", "timestamp"} <= line.keys() for line in lines)
    assert any(line["logger"].startswith("_granian") for line in lines), lines
    (access,) = [line for line in lines if line.get("request_id") == "e2e-log-line-1"]
    assert access["logger"] == "waymark.access"
    assert (access["event"], access["level"], access["method"]) == ("request", "info", "GET")
    assert access["path"] == "/api/v1/roadmaps/backend/topics/databases.redis"
    assert access["route"] == "/api/v1/roadmaps/{slug}/topics/{topic_id}"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert 0 < access["duration_ms"] < 10_000


def test_import_is_harmless_to_repeat_and_export_round_trips(
    env: dict[str, str], tmp_path: Path
) -> None:
    waymark(env, "db", "upgrade")
    first = waymark(env, "roadmaps", "import", str(BACKEND_ROADMAP))
    assert "version 1, 8 sections, 45 topics" in first.stdout
    again = waymark(env, "roadmaps", "import", str(BACKEND_ROADMAP))
    assert "unchanged at version 1" in again.stdout

    exported = tmp_path / "exported.toml"
    waymark(env, "roadmaps", "export", "backend", "-o", str(exported))
    assert "unchanged at version 1" in waymark(env, "roadmaps", "import", str(exported)).stdout
    as_json = waymark(env, "roadmaps", "export", "backend", "--format", "json").stdout
    assert len(msgspec.json.decode(as_json)["sections"]) == 8
    assert "backend" in waymark(env, "roadmaps", "list").stdout


def test_invalid_file_fails_with_the_offending_path(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        BACKEND_ROADMAP.read_text().replace('id = "databases.redis"', 'id = "Databases Redis"')
    )
    result = waymark(env, "roadmaps", "import", str(bad), check=False)
    assert result.returncode == 2
    assert "validation-failed" in result.stderr
    assert "sections[2].topics[2].id" in result.stderr


def test_db_current_and_downgrade(env: dict[str, str]) -> None:
    assert waymark(env, "db", "current", check=False).returncode == 1
    waymark(env, "db", "upgrade")
    current = waymark(env, "db", "current")
    assert "base" not in current.stdout
    waymark(env, "db", "downgrade", "base")
    assert "base" in waymark(env, "db", "current", check=False).stdout


def test_coverage_document_is_up_to_date() -> None:
    root = Path(__file__).parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "waymark", "roadmaps", "coverage", "--check"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_users_create_reads_the_password_from_stdin(env: dict[str, str]) -> None:
    waymark(env, "db", "upgrade")

    def create(email: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "waymark", "users", "create", email],
            env=env,
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    created = create("ops@example.org", "a long operator passphrase")
    assert created.returncode == 0, created.stderr
    assert len(created.stdout.strip()) == 36  # the new account's UUID
    again = create("OPS@example.org", "another long passphrase")
    assert again.returncode == 2
    assert "already has an account" in again.stderr
    weak = create("weak@example.org", "password")
    assert weak.returncode == 2
    assert "validation-failed" in weak.stderr
    for bad in ("bad email", "Eve <eve@example.org>", "ops@example.org."):
        refused = create(bad, "a long operator passphrase")
        assert refused.returncode == 2, refused.stdout
        assert "validation-failed" in refused.stderr
        assert "email:" in refused.stderr


def create_user(env: dict[str, str], email: str) -> None:
    """`waymark users create EMAIL`, its password on standard input."""
    subprocess.run(
        [sys.executable, "-m", "waymark", "users", "create", email],
        env=env,
        input="a long enough passphrase\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_keys_rotate_and_users_disable(env: dict[str, str]) -> None:
    waymark(env, "db", "upgrade")
    first = waymark(env, "keys", "rotate")
    assert "2 key(s)" in first.stdout
    sealing = waymark(env, "keys", "secret-box")
    assert "created a secret-sealing key" in sealing.stdout
    key = Path(env["WAYMARK_VAR_DIR"]) / "secret-box.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "kept the secret-sealing key" in waymark(env, "keys", "secret-box").stdout
    create_user(env, "off@example.org")
    disabled = waymark(env, "users", "disable", "off@example.org")
    assert "disabled" in disabled.stdout
    missing = waymark(env, "users", "disable", "nobody@example.org", check=False)
    assert missing.returncode == 2


def test_users_grant_and_revoke_a_platform_role(env: dict[str, str]) -> None:
    waymark(env, "db", "upgrade")
    create_user(env, "lead@example.org")
    assert (
        "learner -> editor" in waymark(env, "users", "grant", "lead@example.org", "editor").stdout
    )
    wrong = waymark(env, "users", "revoke", "lead@example.org", "admin", check=False)
    assert wrong.returncode == 2
    assert "is editor, not admin" in wrong.stderr
    bogus = waymark(env, "users", "grant", "lead@example.org", "root", check=False)
    assert bogus.returncode == 2
    assert (
        "editor -> learner" in waymark(env, "users", "revoke", "lead@example.org", "editor").stdout
    )
    missing = waymark(env, "users", "grant", "nobody@example.org", "admin", check=False)
    assert missing.returncode == 2
    assert "no account" in missing.stderr


@pytest.mark.parametrize("command", ["serve", "scheduler"])
def test_serve_and_the_scheduler_refuse_unsafe_production_settings(
    env: dict[str, str], command: str
) -> None:
    result = waymark(env | {"WAYMARK_ENVIRONMENT": "production"}, command, check=False)
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr
    assert "no signing keys" in result.stderr
    assert "not https" in result.stderr
    assert not (Path(env["WAYMARK_VAR_DIR"]) / "jwt-signing-keys.json").exists()
