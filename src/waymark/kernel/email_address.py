"""The one canonical form of an email address, whichever way the address comes in.

An address is the key of an account and the only place its mail goes, so it must name one
mailbox, plainly, and always be written the same way: "verified" then proves control of
exactly the address that is stored, and one mailbox cannot hold two accounts through two
spellings. `normalize_email` is the single source of that form: the API schemas, the account
service, the command line and the mailer all go through it.

Accepted: one bare address, `local@domain`, as email-validator (RFC 5321/5322, RFC 6531 for
internationalised local parts, IDNA 2008 with UTS #46 for domains) reads it, no DNS look-up.

Refused, because a parser could read another mailbox out of them, or they name no mailbox:
display names and angle brackets, groups, comments, several addresses, quoted local parts,
IP literals, surrounding or inner spaces, a trailing dot after the domain, MIME encoded
words (`=?utf-8?q?...?=`), and routes through another host (`%`, `!`). Also refused, because
they make one address look like another: control and format characters (bidi overrides,
zero-width), other invisible characters (fillers, variation selectors), and compatibility
characters in the local part (full-width letters, ligatures; UTS #39 asks for NFKC there).

Canonical: the whole address in lower case (as Waymark always stored it), the local part in
NFC, the domain in IDNA A-labels (`bücher.de` becomes `xn--bcher-kva.de`). An address that
is canonical comes back unchanged, so a stored address can be normalised again safely.
"""

from __future__ import annotations

import re
import unicodedata
from email.headerregistry import Address

from email_validator import validate_email

from waymark.kernel.errors import FieldError, ValidationFailed

MAX_LENGTH = 254
"""RFC 5321's limit on a path, less its angle brackets: longer addresses cannot be mailed."""

# Default-ignorable code points that email-validator lets through (it refuses the control and
# format ones itself): fillers that render as nothing, and marks that only select a glyph.
# U+2800, the blank Braille pattern, is not default-ignorable but renders as a space.
_INVISIBLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
_ROUTING = re.compile("[%!]")


class InvalidEmail(ValidationFailed):
    """Not one plain email address that Waymark accepts: a 422 naming the field, and why."""

    def __init__(self, reason: str, *, field: str = "email") -> None:
        super().__init__([FieldError(field, reason)])
        self.reason = reason


def normalize_email(text: str, *, field: str = "email") -> str:
    """The canonical form of the address `text` (see the module), or InvalidEmail naming
    `field`."""
    try:
        canonical = _canonical(text)
        if canonical != text.lower() and _canonical(canonical) != canonical:
            raise ValueError("The email address has no stable normal form.")
    except ValueError as exc:  # email-validator's errors are ValueErrors too
        raise InvalidEmail(str(exc), field=field) from None
    return canonical


def _canonical(text: str) -> str:
    if "<" in text or ">" in text:
        raise ValueError("Give the email address alone, without a name or angle brackets.")
    if "=?" in text:
        raise ValueError("The email address contains an encoded word (=?...?=).")
    if _INVISIBLE.search(text):
        raise ValueError("The email address contains invisible characters.")
    found = validate_email(
        text.lower(),
        check_deliverability=False,
        allow_display_name=False,
        allow_quoted_local=False,
        allow_domain_literal=False,
        allow_empty_local=False,
        strict=True,  # the 64-character limit on the local part, too
    )
    local = found.local_part
    if _ROUTING.search(local):
        raise ValueError("The part before the @-sign cannot route mail elsewhere (% or !).")
    if unicodedata.normalize("NFKC", local) != local:
        raise ValueError(
            "The part before the @-sign contains compatibility characters (such as "
            "full-width letters or ligatures); type the plain letters."
        )
    canonical = f"{local}@{found.ascii_domain}"
    # Mail headers are written by the standard library: it must write this very address.
    if header_address(canonical).addr_spec != canonical:
        raise ValueError("The email address cannot be written into a mail header as it is.")
    return canonical


def header_address(address: str) -> Address:
    """A canonical address as the standard library's mail header value (for To and the like).

    Built from its parts, not parsed: `Address(addr_spec=...)` refuses internationalised local
    parts, which RFC 6532 allows in headers of mail sent with SMTPUTF8."""
    local, _, domain = address.rpartition("@")
    return Address(username=local, domain=domain)
