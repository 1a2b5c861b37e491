"""Mail bodies from templates, the file mailer, and mail through the outbox into `.eml` files."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import jinja2
import pytest

from waymark.infra.mail import (
    FileMailer,
    MailRejected,
    MailTemplates,
    SendMailHandler,
    SmtpMailer,
    build_mailer,
    enqueue_mail,
    render,
)
from waymark.infra.outbox import DEAD, DONE, HandlerRegistry, Outbox, OutboxRelay, RetryPolicy
from waymark.infra.sql.database import Database
from waymark.kernel.ports import MailMessage
from waymark.settings import MailSettings, Settings

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LINK = "https://waymark.test/verify?token=abc&next=<home>"


def parse(path: Path) -> EmailMessage:
    with path.open("rb") as file:
        parsed = BytesParser(policy=default).parse(file)
    assert isinstance(parsed, EmailMessage)
    return parsed


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def parts(email: EmailMessage) -> tuple[str, str | None]:
    text = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert text is not None
    return text.get_content(), html.get_content() if html is not None else None


# -- templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "context"),
    [
        ("verify-email", {"link": LINK}),
        ("verify-email", {"link": LINK, "code": "493027"}),
        ("reset-password", {"link": LINK}),
        ("email-changed", {"link": LINK, "new_email": "new<b>@example.com"}),
        ("password-changed", {"link": LINK}),
        ("account-exists", {"link": LINK, "login": "https://w.example/login"}),
        (
            "team-invite",
            {"link": LINK, "team": "Ops <b>", "inviter": "Ada", "role": "member", "days": 7},
        ),
        (
            "team-reminder",
            {"link": LINK, "team": "Ops <b>", "roadmap": "Backend", "percentage": 12.5},
        ),
        (
            "webhook-disabled",
            {
                "link": LINK,
                "team": "Ops <b>",
                "url": "https://hooks.example/x",
                "failures": 20,
                "reason": "answered 500",
            },
        ),
    ],
)
def test_every_mail_renders_a_subject_text_and_escaped_html(
    name: str, context: dict[str, str]
) -> None:
    subject, text, html = render(name, context)
    assert subject
    assert "\n" not in subject
    assert LINK in text  # plain text is not escaped
    assert "token=abc&amp;next=&lt;home&gt;" in html  # HTML is
    assert "<home>" not in html
    assert f"<title>{subject}</title>" in html
    if "code" in context:
        assert context["code"] in text
        assert context["code"] in html
    if "team" in context:
        assert "Ops <b>" in text
        assert "Ops &lt;b&gt;" in html
    if "new_email" in context:
        assert "new<b>@example.com" in text
        assert "new&lt;b&gt;@example.com" in html


def test_the_shipped_templates_are_the_account_and_team_mails() -> None:
    assert MailTemplates().names() == [
        "account-exists",
        "email-changed",
        "link-identity",
        "password-changed",
        "progress-digest",
        "reset-password",
        "sign-in-code",
        "team-invite",
        "team-reminder",
        "verify-email",
        "webhook-disabled",
    ]


def test_a_missing_variable_or_unknown_template_raises() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("verify-email", {})
    with pytest.raises(jinja2.TemplateNotFound):
        render("no-such-mail", {"link": LINK})
    with pytest.raises(ValueError, match="invalid mail template name"):
        render("../settings", {})


# -- file mailer --------------------------------------------------------------------------


async def test_the_file_mailer_writes_a_parseable_eml(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "mail"
    mailer = FileMailer(directory, sender="Waymark <no-reply@waymark.test>")
    subject, text, html = render("verify-email", {"link": LINK})
    message = MailMessage(
        to="ada@example.com",
        subject=subject,
        text=text,
        html=html,
        message_id="<0190-abc@waymark.test>",
    )

    await mailer.send(message)

    files = files_in(directory)
    assert len(files) == 1
    assert files[0].name.endswith("-0190-abc@waymark.test.eml")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert mailer.path_for(message.message_id) == files[0]
    email = parse(files[0])
    assert email["To"] == "ada@example.com"
    assert email["From"] == "Waymark <no-reply@waymark.test>"
    assert email["Subject"] == "Confirm your email address"
    assert email["Message-ID"] == "<0190-abc@waymark.test>"
    assert email["Date"] is not None
    assert email.get_content_type() == "multipart/alternative"
    plain, rich = parts(email)
    assert LINK in plain
    assert rich is not None
    assert "token=abc&amp;next" in rich


async def test_the_file_mailer_writes_a_message_id_once_and_in_sending_order(
    tmp_path: Path,
) -> None:
    mailer = FileMailer(tmp_path)
    for n in (1, 2, 3):
        await mailer.send(
            MailMessage(to="a@example.com", subject=f"n{n}", text="hi", message_id=f"<{n}@x>")
        )
    await mailer.send(  # a retry of message 1
        MailMessage(to="a@example.com", subject="n1", text="hi", message_id="<1@x>")
    )
    # "<1@x>" must not be mistaken for a message whose id merely ends the same way
    await mailer.send(
        MailMessage(to="a@example.com", subject="n4", text="hi", message_id="<other-1@x>")
    )
    names = [p.name for p in files_in(tmp_path)]
    assert len(names) == 4
    assert [parse(tmp_path / n)["Subject"] for n in names] == ["n1", "n2", "n3", "n4"]
    assert not [n for n in names if n.startswith(".tmp-")]


async def test_a_text_only_message_has_one_part(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path)
    await mailer.send(
        MailMessage(to="a@example.com", subject="s", text="only text", message_id="<t@x>")
    )
    [path] = files_in(tmp_path)
    email = parse(path)
    assert email.get_content_type() == "text/plain"
    assert parts(email) == ("only text\n", None)


async def test_header_injection_is_refused(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path)
    with pytest.raises(ValueError, match="linefeed"):
        await mailer.send(
            MailMessage(
                to="a@example.com",
                subject="hi\r\nBcc: victim@example.com",
                text="x",
                message_id="<i@x>",
            )
        )
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    "to", ["Ada <ada@example.com>", "victim.example.com<eve@evil.com>", "ADA@example.com"]
)
async def test_the_file_mailer_writes_only_to_a_canonical_address(tmp_path: Path, to: str) -> None:
    with pytest.raises(MailRejected, match="recipient"):
        await FileMailer(tmp_path).send(
            MailMessage(to=to, subject="s", text="x", message_id="<r@x>")
        )
    assert files_in(tmp_path) == []


async def test_an_internationalised_address_is_written_as_utf8(tmp_path: Path) -> None:
    """RFC 6532: the To header holds the address itself in UTF-8, not an encoded word that
    no mail system reads back as an address."""
    to = "josé@xn--bcher-kva.de"
    await FileMailer(tmp_path).send(MailMessage(to=to, subject="s", text="x", message_id="<u@x>"))
    [path] = files_in(tmp_path)
    assert f"To: {to}\r\n".encode() in path.read_bytes()
    assert parse(path)["To"] == to


def test_build_mailer_follows_the_mail_url(tmp_path: Path) -> None:
    embedded = build_mailer(Settings(_env_file=None, var_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(embedded, FileMailer)
    assert embedded.directory == tmp_path / "mail"
    smtp = build_mailer(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            var_dir=tmp_path,
            mail=MailSettings(url="smtp+starttls://u:p%40ss@mail.example.com", sender="a@b.c"),
        )
    )
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.target.host, smtp.target.port, smtp.target.security) == (
        "mail.example.com",
        587,
        "starttls",
    )
    assert (smtp.target.username, smtp.target.password) == ("u", "p@ss")


# -- through the outbox -------------------------------------------------------------------


def mail_relay(db: Database, mailer: FileMailer, **options: object) -> OutboxRelay:
    handlers = HandlerRegistry()
    SendMailHandler(mailer, sender=mailer.sender).register(handlers)
    return OutboxRelay(db, handlers, **options)  # type: ignore[arg-type]


async def test_a_committed_mail_lands_in_the_mail_directory(db: Database, tmp_path: Path) -> None:
    outbox = Outbox()
    directory = tmp_path / "mail"
    mailer = FileMailer(directory, sender="Waymark <no-reply@waymark.test>")
    async with db.transaction() as conn:
        message_id = await enqueue_mail(
            outbox, conn, to="ada@example.com", template="verify-email", context={"link": LINK}
        )
    assert message_id is not None
    assert not directory.exists()  # nothing is sent before the relay runs

    report = await mail_relay(db, mailer).run_once()
    assert report.delivered == 1

    [path] = files_in(directory)
    email = parse(path)
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == "Confirm your email address"
    assert email["Message-ID"] == f"<{message_id}@waymark.test>"
    plain, rich = parts(email)
    assert LINK in plain
    assert rich is not None
    assert "token=abc&amp;next" in rich
    async with db.read() as conn:
        stored = await Outbox.get(conn, message_id)
    assert stored is not None
    assert stored["state"] == DONE
    assert "token=abc" not in stored["payload"]  # the one-time link is not kept


async def test_a_rolled_back_mail_is_never_sent(db: Database, tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "mail")

    async def signup_that_fails() -> None:
        async with db.transaction() as conn:
            await enqueue_mail(
                Outbox(),
                conn,
                to="ada@example.com",
                template="verify-email",
                context={"link": LINK},
            )
            raise RuntimeError("the account insert failed")

    with pytest.raises(RuntimeError):
        await signup_that_fails()
    assert (await mail_relay(db, mailer).run_once()).claimed == 0
    assert not (tmp_path / "mail").exists()


async def test_a_mail_that_cannot_be_rendered_goes_dead_at_once(
    db: Database, tmp_path: Path
) -> None:
    async with db.transaction() as conn:
        message_id = await enqueue_mail(
            Outbox(), conn, to="ada@example.com", template="verify-email", context={}
        )
    assert message_id is not None
    relay = mail_relay(db, FileMailer(tmp_path), policy=RetryPolicy(max_attempts=10))
    assert (await relay.run_once()).dead == 1
    async with db.read() as conn:
        stored = await Outbox.get(conn, message_id)
    assert stored is not None
    assert stored["state"] == DEAD
    assert "'link' is undefined" in stored["last_error"]
    assert stored["payload"] != '{"redacted":true}'  # dead letters keep their payload
