"""Turning a `MailMessage` into an RFC 5322 message, the same way for every mailer."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime

from waymark.kernel.clock import utcnow
from waymark.kernel.email_address import InvalidEmail, header_address, normalize_email
from waymark.kernel.ports import MailMessage


class MailRejected(Exception):
    """The message cannot be delivered as it is, for good: the server refused it (5xx), or
    it is addressed to anything but one canonical address. Retrying cannot help."""


def recipient(to: str) -> str:
    """`to`, if it is one address in canonical form (`normalize_email`), as accounts store
    it; else MailRejected. Mail goes to exactly that address: the envelope (RCPT TO) and the
    To header are made from it, nothing is ever parsed out of a longer string."""
    try:
        canonical = normalize_email(to, field="to")
    except InvalidEmail as exc:
        raise MailRejected(f"recipient is not an address: {exc.reason}") from None
    if canonical != to:
        raise MailRejected(f"recipient {to!r} is not in canonical form ({canonical!r})")
    return canonical


def to_email(message: MailMessage, *, sender: str) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML when there is one) with CRLF
    line endings, to `recipient(message.to)`. Header values holding a line break are refused
    (header injection).

    An internationalised local part (`josé@...`) is written as UTF-8 (RFC 6532) and so needs
    a server that takes SMTPUTF8; any other address is plain ASCII, its domain in A-labels.
    """
    to = recipient(message.to)
    email = EmailMessage(policy=SMTP if to.isascii() else SMTPUTF8)
    email["From"] = sender
    email["To"] = header_address(to)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message_id_header(message.message_id)
    # RFC 3834: automatic mail; auto-responders should not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


def message_id_header(message_id: str) -> str:
    """`message_id` in the `<left@right>` form the Message-ID header needs."""
    return message_id if message_id.startswith("<") else f"<{message_id}>"
