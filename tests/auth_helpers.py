"""Test helpers for the identity flows: read mailed tokens, register and log in users."""

from __future__ import annotations

import asyncio
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from waymark.infra.outbox import PENDING, Outbox
from waymark.infra.sql.database import Database

Client = AsyncTestClient[Litestar]
PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r"token=([A-Za-z0-9_-]{20,})")


VERIFY = "Confirm your email address"
RESET = "Reset your password"
PASSWORD_CHANGED = "Your password was changed"
ACCOUNT_EXISTS = "Someone tried to sign up with your address"


async def wait_for_mail(
    mail_dir: Path, to: str, subject: str = VERIFY, *, count: int = 1, timeout: float = 10.0
) -> EmailMessage:
    """The `count`-th mail to `to` with `subject` that the outbox relay wrote, waiting up to
    `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = mails(mail_dir, to, subject)
        if len(found) >= count:
            return found[count - 1]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no mail #{count} to {to} in {mail_dir} after {timeout} s")
        await asyncio.sleep(0.05)


def mails(mail_dir: Path, to: str, subject: str) -> list[EmailMessage]:
    """The mails to `to` with `subject` that the file mailer wrote so far, oldest first."""
    found: list[EmailMessage] = []
    for path in sorted(mail_dir.glob("[!.]*.eml")) if mail_dir.exists() else []:
        # Not the mailer's `.tmp-*.eml` files: a message being written, sorted first.
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if message["To"] == to and message["Subject"] == subject:
            found.append(message)  # type: ignore[arg-type]
    return found


async def settle_outbox(client: Client, db: Database, *, timeout: float = 10.0) -> None:
    """Wait until the app's own outbox relay has handled every message written so far
    (mailed, audited, or dead): for asserting that something was *not* sent, which no
    amount of waiting for a mail can show. The relay is woken by each commit, so this is
    quick. `db` is the test's own pool, used only to count; the relay itself must run on
    the app's event loop, where its stores' connections belong: relaying from this test's
    loop used them across loops ("attached to a different loop") and hung now and then."""
    assert client.app.state.container.relay is not None  # the app relays (its lifespan runs)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with db.read() as conn:
            if (await Outbox.counts(conn))[PENDING] == 0:
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox still has pending messages after {timeout} s")
        await asyncio.sleep(0.02)


def token_in(message: EmailMessage) -> str:
    match = _TOKEN.search(text_of(message))
    assert match, "no token link in the mail"
    return match.group(1)


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a mail."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def register_verified(
    client: Client, mail_dir: Path, email: str, password: str = PASSWORD
) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    assert response.status_code == 202, response.text
    token = token_in(await wait_for_mail(mail_dir, email))
    verified = await client.post(
        "/api/v1/auth/verify-email", json={"token": token, "password": password}
    )
    assert verified.status_code == 200, verified.text


async def login_tokens(client: Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


def install_as_package(
    monkeypatch: Any, tmp_path: Path, source: Path, *, distribution: str, entry_points: str
) -> None:
    """Put the modules of `source` on the path as an installed distribution would: its
    metadata in a site directory, with `entry_points` as its `entry_points.txt`, so that
    `importlib.metadata.entry_points` finds them (as the docs' examples are installed)."""
    site = tmp_path / "site-packages"
    info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.syspath_prepend(str(site))
