"""Mail: the file and SMTP mailers behind the `Mailer` port, templates, and the outbox handler.

`build_mailer(settings)` picks the adapter from `settings.mail.url`: unset writes `.eml` files
to `<var_dir>/mail/`, an `smtp://`, `smtp+starttls://` or `smtps://` URL sends over SMTP.
"""

from __future__ import annotations

from waymark.infra.mail.compose import MailRejected
from waymark.infra.mail.files import FileMailer
from waymark.infra.mail.jobs import MAIL_SEND, SendMail, SendMailHandler, enqueue_mail
from waymark.infra.mail.smtp import SmtpMailer
from waymark.infra.mail.templates import MailTemplates, RenderedMail, render
from waymark.kernel.ports import Mailer
from waymark.settings import Settings

__all__ = [
    "MAIL_SEND",
    "FileMailer",
    "MailRejected",
    "MailTemplates",
    "RenderedMail",
    "SendMail",
    "SendMailHandler",
    "SmtpMailer",
    "build_mailer",
    "enqueue_mail",
    "render",
]


def build_mailer(settings: Settings) -> Mailer:
    """The mailer the settings ask for."""
    mail = settings.mail
    if not mail.url:
        return FileMailer(settings.var_dir / "mail", sender=mail.sender)
    return SmtpMailer(mail.url, mail.sender, mail.timeout)
