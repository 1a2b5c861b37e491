"""The canonical form of an email address: what is refused, what is normalised, and that one
mailbox has one spelling. The refusals are the inputs of the security probe (issue 8)."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waymark.kernel.email_address import InvalidEmail, header_address, normalize_email


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # a parser reads another mailbox out of these
        ("victim.example.com<attacker@evil.com>", "angle brackets"),
        ("Ada <ada@example.com>", "angle brackets"),
        ("grp:attacker@evil.com;", "invalid characters"),
        ("a,b@example.com", "invalid characters"),
        ("ada@example.com, eve@evil.com", "invalid characters"),
        ("ada(comment)@example.com", "invalid characters"),
        ("=?utf-8?q?attacker=40evil.com?=@example.com", "encoded word"),
        ("=?utf-8?b?YXR0YWNrZXJAZXZpbC5jb20=?=@example.com", "encoded word"),
        ('"attacker@evil.com"@example.com', "Quoting"),
        ('"ada"@example.com', "Quoting"),
        ("attacker%evil.com@example.com", "route mail elsewhere"),
        ("evil.com!attacker@example.com", "route mail elsewhere"),
        ("ada@[127.0.0.1]", "bracketed IP"),
        ("ada@example.com\r\nBcc: eve@evil.com", "invalid characters"),
        # one mailbox, a second spelling that used to be a second account
        ("ada@example.com.", "cannot end with a period"),
        ("a\u200bda@example.com", "ZERO WIDTH SPACE"),
        ("ada@exa\u200dmple.com", "ZERO WIDTH JOINER"),
        ("a\u3164da@example.com", "invisible"),
        ("ada@exa\u3164mple.com", "invisible"),
        ("ada\ufe0f@example.com", "invisible"),
        ("a\u034fda@example.com", "invisible"),
        ("\uff41da@example.com", "compatibility characters"),  # full-width a
        ("\ufb01@example.com", "compatibility characters"),  # the fi ligature
        # HTML and right-to-left tricks
        ("<script>@example.com", "angle brackets"),
        ("\u202emoc.elpmaxe@ada", "RIGHT-TO-LEFT OVERRIDE"),
        ("ada\u2067@example.com", "RIGHT-TO-LEFT ISOLATE"),
        ("ada\u200f@example.com", "RIGHT-TO-LEFT MARK"),
        # not an address, or not one that can be mailed
        ("bad email", "@-sign"),
        (" ada@example.com", "SPACE"),
        ("ada@example.com ", "SPACE"),
        ("ada@localhost", "period"),
        ("ada@example.test", "special-use"),
        ("ada..lovelace@example.com", "two periods"),
        ("a" * 65 + "@example.com", "too long"),
        ("", "@-sign"),
    ],
)
def test_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidEmail, match=why) as refused:
        normalize_email(text, field="new_email")
    assert refused.value.status == 422
    assert refused.value.code == "validation-failed"
    assert [e.field for e in refused.value.errors] == ["new_email"]


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (["ada@example.com", "ADA@Example.COM"], "ada@example.com"),
        (
            ["ada@bücher.de", "ada@BÜCHER.de", "ada@bu\u0308cher.de", "ada@xn--bcher-kva.de"],
            "ada@xn--bcher-kva.de",
        ),
        (["josé@example.com", "jose\u0301@example.com", "JOSÉ@example.com"], "josé@example.com"),
        (["ada@\uff45xample.com", "ada@example\u3002com"], "ada@example.com"),  # UTS #46
        (["пользователь@пример.рф"], "пользователь@xn--e1afmkfd.xn--p1ai"),
        (["o'brien+roadmaps@example.com"], "o'brien+roadmaps@example.com"),
    ],
)
def test_every_spelling_of_one_address_has_one_canonical_form(
    spellings: list[str], canonical: str
) -> None:
    assert {normalize_email(s) for s in spellings} == {canonical}
    assert normalize_email(canonical) == canonical


# Letters of any case and script, digits and combining marks: what normalisation works on.
_PART = st.text(st.characters(categories=("Lu", "Ll", "Lt", "Lo", "Mn", "Nd")), max_size=12)


@given(st.one_of(st.text(max_size=40), st.builds("{}@{}.com".format, _PART, _PART)))
def test_the_canonical_form_is_a_fixed_point(text: str) -> None:
    """Whatever is accepted normalises to something that normalises to itself, so a stored
    address can be looked up again and the unique index means one account per mailbox."""
    try:
        canonical = normalize_email(text)
    except InvalidEmail:
        return
    assert normalize_email(canonical) == canonical


@given(
    st.from_regex(r"[a-zA-Z0-9._%+!'=?#-]{1,20}@[a-zA-Z0-9.-]{1,20}\.[a-z]{2,5}", fullmatch=True)
)
def test_an_accepted_address_means_the_same_to_the_mail_parsers(text: str) -> None:
    """The old mailer picked its recipient with `parseaddr`: whatever is accepted now reads as
    the very same address there and in the header the mailer writes."""
    try:
        canonical = normalize_email(text)
    except InvalidEmail:
        return
    assert parseaddr(canonical) == ("", canonical)
    assert str(header_address(canonical)) == canonical
