"""The SMTP mailer against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS with
login, refusals, a server that is down, and mail through the outbox arriving at the server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from waymark.infra.mail import (
    MAIL_SEND,
    MailRejected,
    SendMail,
    SendMailHandler,
    SmtpMailer,
    enqueue_mail,
    render,
)
from waymark.infra.mail.smtp import parse_smtp_url
from waymark.infra.outbox import DONE, HandlerRegistry, Outbox, OutboxRelay, RetryPolicy
from waymark.infra.sql.database import Database
from waymark.kernel.ports import MailMessage

SENDER = "Waymark <no-reply@waymark.test>"
LINK = "https://waymark.test/reset?token=xyz"
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            content = envelope.original_content or envelope.content
            assert isinstance(content, bytes)
            message = BytesParser(policy=default).parsebytes(content)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(inbox: Inbox, port: int, **options: Any) -> Controller:
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, server_hostname="smtp.waymark.test", **options
    )
    controller.start()
    return controller


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_port(inbox: Inbox) -> Iterator[int]:
    """A plain SMTP server on 127.0.0.1, stopped after the test."""
    port = free_port()
    controller = start_server(inbox, port)
    try:
        yield port
    finally:
        controller.stop()


def self_signed(tmp_path: Path) -> tuple[Path, Path, str]:
    """A certificate for 127.0.0.1: (cert file, key file, PEM for the client to trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.waymark.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem.decode()


def message(to: str = "ada@example.com", message_id: str = "<m1@waymark.test>") -> MailMessage:
    subject, text, html = render("reset-password", {"link": LINK})
    return MailMessage(to=to, subject=subject, text=text, html=html, message_id=message_id)


async def test_smtp_delivers_the_message_to_a_real_server(inbox: Inbox, smtp_port: int) -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{smtp_port}", SENDER, timeout=5)

    await mailer.send(message(to="ada@example.com"))

    [envelope] = inbox.envelopes
    assert envelope.mail_from == "no-reply@waymark.test"
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert "SMTPUTF8" not in envelope.mail_options
    [email] = inbox.messages()
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == "Reset your password"
    assert email["Message-ID"] == "<m1@waymark.test>"
    assert email["Auto-Submitted"] == "auto-generated"
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert LINK in text.get_content()
    assert f'href="{LINK}"' in html.get_content()


async def test_starttls_and_login_when_the_url_asks(inbox: Inbox, tmp_path: Path) -> None:
    cert_file, key_file, pem = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        ok = data.password == b"p@ss word"
        return AuthResult(success=ok, handled=ok)  # unhandled: the server answers 535

    port = free_port()
    controller = start_server(
        inbox,
        port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    try:
        client_tls = ssl.create_default_context(cadata=pem)
        good = SmtpMailer(
            f"smtp+starttls://mailer:p%40ss%20word@127.0.0.1:{port}",
            SENDER,
            timeout=5,
            ssl_context=client_tls,
        )
        await good.send(message())
        assert len(inbox.envelopes) == 1
        assert logins == [(b"mailer", b"p@ss word")]

        bad = SmtpMailer(
            f"smtp+starttls://mailer:wrong@127.0.0.1:{port}",
            SENDER,
            timeout=5,
            ssl_context=client_tls,
        )
        with pytest.raises(smtplib.SMTPAuthenticationError):
            await bad.send(message())

        untrusted = SmtpMailer(f"smtp+starttls://mailer:x@127.0.0.1:{port}", SENDER, timeout=5)
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusted.send(message())  # a server we cannot verify gets no password
        assert len(inbox.envelopes) == 1
    finally:
        controller.stop()


async def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(
    smtp_port: int,
) -> None:
    mailer = SmtpMailer(f"smtp+starttls://127.0.0.1:{smtp_port}", SENDER, timeout=5)
    with pytest.raises(smtplib.SMTPNotSupportedError):
        await mailer.send(message())


async def test_a_server_that_is_down_raises() -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", SENDER, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        await mailer.send(message())


async def test_a_permanent_refusal_raises_mail_rejected(inbox: Inbox, smtp_port: int) -> None:
    inbox.refuse.add("nobody@example.com")
    mailer = SmtpMailer(f"smtp://127.0.0.1:{smtp_port}", SENDER, timeout=5)
    with pytest.raises(MailRejected, match="550"):
        await mailer.send(message(to="nobody@example.com"))


@pytest.mark.parametrize(
    "to",
    [
        "victim.example.com<attacker@evil.com>",  # parseaddr() read attacker@evil.com
        "Ada <ada@example.com>",
        "grp:attacker@evil.com;",
        "ada@example.com, attacker@evil.com",
        "ADA@example.com",  # an address, but not as accounts store it
    ],
)
async def test_mail_goes_to_a_canonical_address_or_nowhere(
    inbox: Inbox, smtp_port: int, to: str
) -> None:
    mailer = SmtpMailer(f"smtp://127.0.0.1:{smtp_port}", SENDER, timeout=5)
    with pytest.raises(MailRejected, match="recipient"):
        await mailer.send(message(to=to))
    assert inbox.envelopes == []


async def test_an_idn_domain_is_sent_in_ascii(inbox: Inbox, smtp_port: int) -> None:
    """Accounts store the domain as A-labels, so such mail needs no SMTPUTF8."""
    mailer = SmtpMailer(f"smtp://127.0.0.1:{smtp_port}", SENDER, timeout=5)
    await mailer.send(message(to="ada@xn--bcher-kva.de"))
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["ada@xn--bcher-kva.de"]
    assert "SMTPUTF8" not in envelope.mail_options
    [email] = inbox.messages()
    assert email["To"] == "ada@xn--bcher-kva.de"


async def test_an_internationalised_local_part_is_sent_with_smtputf8(
    inbox: Inbox, smtp_port: int
) -> None:
    to = "josé@xn--bcher-kva.de"
    await SmtpMailer(f"smtp://127.0.0.1:{smtp_port}", SENDER, timeout=5).send(message(to=to))
    [envelope] = inbox.envelopes
    assert envelope.smtp_utf8
    assert envelope.rcpt_tos == [to]
    assert isinstance(envelope.original_content, bytes)
    assert f"To: {to}\r\n".encode() in envelope.original_content  # RFC 6532, no encoded word
    [email] = inbox.messages()
    assert email["To"] == to


async def test_an_internationalised_local_part_needs_a_server_that_takes_it(
    inbox: Inbox,
) -> None:
    port = free_port()
    controller = start_server(inbox, port, enable_SMTPUTF8=False)
    try:
        mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER, timeout=5)
        with pytest.raises(MailRejected, match="SMTPUTF8"):
            await mailer.send(message(to="josé@example.com"))
    finally:
        controller.stop()
    assert inbox.envelopes == []


def test_smtp_urls() -> None:
    assert parse_smtp_url("smtp://127.0.0.1").port == 25
    assert parse_smtp_url("smtps://u:p@mail.example.com").security == "tls"
    assert parse_smtp_url("smtp://u:p@localhost:2525").username == "u"  # loopback relay
    with pytest.raises(ValueError, match="without TLS"):
        parse_smtp_url("smtp://u:p@mail.example.com:25")
    with pytest.raises(ValueError, match="scheme"):
        parse_smtp_url("http://mail.example.com")
    with pytest.raises(ValueError, match="host"):
        parse_smtp_url("smtp://")


# -- through the outbox -------------------------------------------------------------------


def smtp_relay(db: Database, port: int) -> OutboxRelay:
    handlers = HandlerRegistry()
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER, timeout=2)
    SendMailHandler(mailer, sender=SENDER).register(handlers)
    return OutboxRelay(db, handlers, policy=RetryPolicy(base=30, cap=600, max_attempts=5))


async def test_a_committed_mail_arrives_at_the_smtp_server(
    db: Database, inbox: Inbox, smtp_port: int
) -> None:
    async with db.transaction() as conn:
        message_id = await enqueue_mail(
            Outbox(),
            conn,
            to="ada@example.com",
            template="reset-password",
            context={"link": LINK},
        )

    assert (await smtp_relay(db, smtp_port).run_once()).delivered == 1

    [email] = inbox.messages()
    assert email["Message-ID"] == f"<{message_id}@waymark.test>"
    assert email["Subject"] == "Reset your password"
    text = email.get_body(preferencelist=("plain",))
    assert text is not None
    assert LINK in text.get_content()


async def test_a_queued_mail_to_no_canonical_address_is_never_sent(
    db: Database, inbox: Inbox, smtp_port: int
) -> None:
    """`enqueue_mail` refuses such a recipient; one queued before it did (or by other means)
    goes dead at the relay, and the server hears nothing of it."""
    stored = "victim.example.com<attacker@evil.com>"
    async with db.transaction() as conn:
        with pytest.raises(MailRejected):
            await enqueue_mail(Outbox(), conn, to=stored, template="reset-password", context={})
        message_id = await Outbox().enqueue(
            conn,
            MAIL_SEND,
            SendMail(to=stored, template="reset-password", context={"link": LINK}),
        )

    assert (await smtp_relay(db, smtp_port).run_once()).dead == 1
    assert inbox.envelopes == []
    async with db.read() as conn:
        dead = await Outbox.get(conn, message_id)
    assert dead is not None
    assert "recipient" in dead["last_error"]


async def test_mail_waits_out_an_smtp_outage_and_is_delivered_after(
    db: Database, inbox: Inbox
) -> None:
    port = free_port()
    async with db.transaction() as conn:
        message_id = await enqueue_mail(
            Outbox(),
            conn,
            to="ada@example.com",
            template="password-changed",
            context={"link": LINK},
        )
    assert message_id is not None
    relay = smtp_relay(db, port)

    assert (await relay.run_once(T0)).retried == 1  # nobody listens on the port yet
    async with db.read() as conn:
        waiting = await Outbox.get(conn, message_id)
    assert waiting is not None
    assert waiting["last_error"].startswith("ConnectionRefusedError")
    assert inbox.envelopes == []

    controller = start_server(inbox, port)
    try:
        assert (await relay.run_once(waiting["available_at"])).delivered == 1
    finally:
        controller.stop()
    [email] = inbox.messages()
    assert email["Subject"] == "Your password was changed"
    async with db.read() as conn:
        done = await Outbox.get(conn, message_id)
    assert done is not None
    assert (done["state"], done["attempts"]) == (DONE, 2)
