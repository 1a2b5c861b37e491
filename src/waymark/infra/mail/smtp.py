"""The production mailer: SMTP, with STARTTLS or implicit TLS, and login when configured.

The URL says how to talk to the server:
`smtp://host:port` (no TLS; credentials only to a loopback relay),
`smtp+starttls://user:pass@host:port` (upgrade, never fall back to plain text),
`smtps://user:pass@host:port` (TLS from the first byte). User and password are URL-encoded.

smtplib runs in a worker thread; every network step is bounded by `timeout` and the whole
exchange by a few times that. Any failure raises, so the outbox relay retries; a permanent
rejection (a 5xx reply) raises `MailRejected`, which the mail handler does not retry.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal
from urllib.parse import unquote, urlsplit

import msgspec

from waymark.infra.mail.compose import MailRejected, to_email
from waymark.kernel.ports import MailMessage

Security = Literal["none", "starttls", "tls"]
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
SMTP_STEPS = 4
"""Network steps of one exchange (connect, TLS, login, data): the total bound is this many
timeouts."""


class SmtpTarget(msgspec.Struct, frozen=True, kw_only=True):
    security: Security
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpTarget:
    """Read an SMTP URL; refuse unknown schemes and passwords sent in clear to another host."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"unsupported mail URL scheme {parts.scheme!r}; use {sorted(_SCHEMES)}")
    if not parts.hostname:
        raise ValueError("the mail URL needs a host")
    security, default_port = _SCHEMES[parts.scheme]
    target = SmtpTarget(
        security=security,
        host=parts.hostname,
        port=parts.port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
    if target.username and security == "none" and not _is_loopback(target.host):
        raise ValueError("refusing to send SMTP credentials without TLS; use smtp+starttls://")
    return target


class SmtpMailer:
    def __init__(
        self,
        url: str,
        sender: str,
        timeout: float = 10.0,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = parse_smtp_url(url)
        self.sender = sender
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.envelope_from = parseaddr(sender)[1]
        if not self.envelope_from:
            raise ValueError(f"mail sender {sender!r} holds no address")

    async def send(self, message: MailMessage) -> None:
        """Hand the message to the server, or raise."""
        # MailRejected unless `to` is one canonical address: it is the envelope recipient too.
        email = to_email(message, sender=self.sender)
        async with asyncio.timeout(self.timeout * SMTP_STEPS):
            await asyncio.to_thread(self._send, email, message.to)

    def _send(self, email: EmailMessage, recipient: str) -> None:
        target = self.target
        client: smtplib.SMTP
        # EHLO with the host name, not getfqdn(): that one may wait on DNS.
        if target.security == "tls":
            client = smtplib.SMTP_SSL(
                target.host,
                target.port,
                local_hostname=socket.gethostname(),
                timeout=self.timeout,
                context=self.ssl_context,
            )
        else:
            client = smtplib.SMTP(
                target.host,
                target.port,
                local_hostname=socket.gethostname(),
                timeout=self.timeout,
            )
        with client:
            try:
                if target.security == "starttls":
                    client.starttls(context=self.ssl_context)  # raises if not offered
                if target.username:
                    client.login(target.username, target.password or "")
                client.ehlo_or_helo_if_needed()
                if not recipient.isascii() and not client.has_extn("smtputf8"):
                    raise MailRejected(f"the server does not take SMTPUTF8, needed for {recipient}")
                # With a non-ASCII address smtplib sends SMTPUTF8 and the headers as UTF-8.
                client.send_message(email, from_addr=self.envelope_from, to_addrs=[recipient])
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                if codes and all(500 <= code < 600 for code in codes):
                    raise MailRejected(f"recipient refused: {exc.recipients}") from exc
                raise
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                if 500 <= exc.smtp_code < 600:
                    raise MailRejected(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
                raise


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
