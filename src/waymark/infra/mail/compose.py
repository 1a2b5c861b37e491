"""Turning a `MailMessage` into an RFC 5322 message, the same way for every mailer."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from waymark.kernel.clock import utcnow
from waymark.kernel.ports import MailMessage


def to_email(message: MailMessage, *, sender: str) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML when there is one) with CRLF
    line endings. Header values holding a line break are refused (header injection)."""
    email = EmailMessage(policy=SMTP)
    email["From"] = sender
    email["To"] = message.to
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
