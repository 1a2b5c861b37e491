"""Mail through the outbox: `enqueue_mail` in the transaction of the change, `SendMailHandler`
renders and sends after commit.

The payload names a template and its context, so a mail is rendered by the process that sends
it. The outbox message id becomes the Message-ID: a retry resends the same message, which the
file mailer writes once and a receiving server can recognise as a duplicate.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import jinja2
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from waymark.infra.mail.compose import MailRejected, recipient
from waymark.infra.mail.templates import MailTemplates, default_templates
from waymark.infra.outbox import HandlerRegistry, Outbox, OutboxMessage, PermanentFailure
from waymark.kernel.ports import Mailer, MailMessage

MAIL_SEND = "mail.send"


class SendMail(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of a `mail.send` message."""

    to: str
    """One canonical address (`enqueue_mail` checks, the mailers check again)."""
    template: str
    context: dict[str, Any] = msgspec.field(default_factory=dict)


async def enqueue_mail(
    outbox: Outbox,
    conn: AsyncConnection,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    dedupe_key: str | None = None,
) -> str | None:
    """Queue mail `template` to `to`, one canonical address (as accounts store it), in the
    caller's transaction; returns the message id. Anything else raises MailRejected here,
    before the change it belongs to commits."""
    send = SendMail(to=recipient(to), template=template, context=context)
    return await outbox.enqueue(conn, MAIL_SEND, send, dedupe_key=dedupe_key)


class SendMailHandler:
    """The `mail.send` handler: render the template, send with the configured mailer."""

    def __init__(
        self, mailer: Mailer, *, sender: str, templates: MailTemplates | None = None
    ) -> None:
        self.mailer = mailer
        self.templates = templates or default_templates()
        address = parseaddr(sender)[1]
        self.domain = address.rpartition("@")[2] or "localhost"

    async def __call__(self, message: OutboxMessage) -> None:
        try:
            request = message.decode(SendMail)
            subject, text, html = self.templates.render(request.template, request.context)
            mail = MailMessage(
                to=request.to,
                subject=subject,
                text=text,
                html=html,
                message_id=f"<{message.id}@{self.domain}>",
            )
        except (msgspec.ValidationError, msgspec.DecodeError, jinja2.TemplateError) as exc:
            raise PermanentFailure(f"cannot build mail: {exc}") from exc
        except ValueError as exc:  # a bad template name
            raise PermanentFailure(str(exc)) from exc
        try:
            await self.mailer.send(mail)
        except MailRejected as exc:
            raise PermanentFailure(str(exc)) from exc

    def register(self, handlers: HandlerRegistry) -> None:
        """Route `mail.send` here; delivered payloads are erased (they hold one-time links)."""
        handlers.register(MAIL_SEND, self, redact_on_done=True)
