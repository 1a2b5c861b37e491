"""Request and response bodies for accounts. Requests forbid unknown fields (no mass assignment)."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Literal, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from waymark.features.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from waymark.kernel.authz import PlatformRole
from waymark.kernel.email_address import MAX_LENGTH as EMAIL_MAX_LENGTH
from waymark.kernel.email_address import normalize_email
from waymark.kernel.errors import FieldError, ValidationFailed
from waymark.kernel.identity import Account

Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=EMAIL_MAX_LENGTH,
        description="One email address alone, like `ada@example.org`: no name, no brackets. "
        "Kept in lower case, the domain in IDNA form (`xn--...`).",
        examples=["ada@example.org"],
        # Litestar's OpenAPI takes schema keywords from msgspec metadata under "extra".
        extra_json_schema={"extra": {"format": "idn-email"}},
    ),
]
"""An email address; a `Strict` body holds it in canonical form (`normalize_email`)."""
# The decoder only bounds what one request can make us hash; the password policy, not the
# decoder, enforces a new password's length, because it counts characters after Unicode NFC
# (a password typed on macOS arrives decomposed and longer). The schema shows its bounds.
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=4096,
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters by default (a deployment may "
        "raise the minimum or lower the maximum), counted after Unicode NFC; no composition "
        "rules; not a common password, not your email address. A refusal is 422 "
        "`validation-failed` saying why.",
        extra_json_schema={"extra": {"minLength": MIN_LENGTH, "maxLength": MAX_LENGTH}},
    ),
]
CurrentPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=4096,
        description="The password as it is now, compared with the stored hash, never checked "
        "against today's policy: one set under older rules still works.",
    ),
]
Token = Annotated[str, msgspec.Meta(min_length=16, max_length=512, pattern=r"^[A-Za-z0-9_.-]+$")]
DisplayName = Annotated[str, msgspec.Meta(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]
TimeZoneName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="An IANA time zone name, like `Europe/Paris`; the days of your streaks "
        "are this zone's.",
        examples=["Europe/Paris"],
    ),
]


def is_time_zone(name: str) -> bool:
    """Whether `name` is a time zone of the IANA database (as shipped with `tzdata`)."""
    if name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body. Unknown fields are refused, and every `Email` field is replaced by
    its canonical form as the body is decoded, or the request is refused: 422
    `validation-failed` naming that field and saying what is wrong with the address."""

    def __post_init__(self) -> None:
        for name in _email_fields(type(self)):
            setattr(self, name, normalize_email(getattr(self, name), field=name))


@cache
def _email_fields(body: type[Strict]) -> tuple[str, ...]:
    hints = get_type_hints(body, include_extras=True)
    return tuple(name for name in body.__struct_fields__ if hints[name] == Email)


class RegisterRequest(Strict):
    email: Email
    password: NewPassword
    display_name: DisplayName = ""


class VerifyEmailRequest(Strict):
    token: Token
    password: NewPassword | None = None
    """Required when the link confirms a new account: it becomes the account's password
    (whoever holds the mailbox chooses it, not whoever filled in the sign-up form).
    Not used when the link confirms an email change."""


class ForgotPasswordRequest(Strict):
    email: Email


class ResetPasswordRequest(Strict):
    token: Token
    new_password: NewPassword


class ChangePasswordRequest(Strict):
    current_password: CurrentPassword
    new_password: NewPassword
    end_other_sessions: bool = True


class ChangeEmailRequest(Strict):
    new_email: Email
    password: CurrentPassword = ""
    """Left out only after a re-authentication through a linked provider (docs/sign-in.md)."""


class DeleteAccountRequest(Strict):
    password: CurrentPassword = ""
    """Left out only after a re-authentication through a linked provider (docs/sign-in.md)."""


class ProfilePatch(Strict):
    display_name: DisplayName | msgspec.UnsetType = msgspec.UNSET
    time_zone: TimeZoneName | msgspec.UnsetType = msgspec.UNSET
    team_reminders: bool | msgspec.UnsetType = msgspec.UNSET
    """False: no reminder mails from the account's teams' managers."""
    weekly_digest: bool | msgspec.UnsetType = msgspec.UNSET
    """False: no weekly progress digest mail."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.time_zone is not msgspec.UNSET and not is_time_zone(self.time_zone):
            raise ValidationFailed(
                [FieldError("time_zone", "not an IANA time zone, like `Europe/Paris` or `UTC`")]
            )

    def changes(self) -> dict[str, str | bool]:
        """The fields given, by name (`Profiles.update` takes them)."""
        return {
            name: value
            for name, value in msgspec.structs.asdict(self).items()
            if value is not msgspec.UNSET
        }


class Accepted(msgspec.Struct, kw_only=True):
    """The same answer whether or not the address has an account."""

    status: Literal["accepted"] = "accepted"
    detail: str


class Me(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    email_verified: bool
    platform_role: PlatformRole
    """learner, editor or admin: what the account may do on the platform
    (`GET /api/v1/authz/matrix`); only an operator changes it."""
    team_reminders: bool
    weekly_digest: bool
    """Whether the weekly progress digest mail comes (Mondays, with last week's progress)."""
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> Me:
        """What the owner sees of their account: never a hash or internal fields."""
        return cls(
            id=account.id,
            email=account.email,
            display_name=account.display_name,
            time_zone=account.time_zone,
            email_verified=account.email_verified,
            platform_role=account.platform_role,
            team_reminders=account.team_reminders,
            weekly_digest=account.weekly_digest,
            created_at=account.created_at,
        )


class UserEntry(msgspec.Struct, kw_only=True):
    """An account as platform admins see it in the directory (`GET /api/v1/admin/users`)."""

    id: uuid.UUID
    email: str
    display_name: str
    platform_role: PlatformRole
    email_verified: bool
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> UserEntry:
        return cls(
            id=account.id,
            email=account.email,
            display_name=account.display_name,
            platform_role=account.platform_role,
            email_verified=account.email_verified,
            disabled=account.disabled,
            created_at=account.created_at,
        )


class RoleChange(Strict):
    role: PlatformRole
    """learner, editor or admin."""


class AuditEvent(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    ip: str
    user_agent: str
    detail: dict[str, str | int | bool | None]
    created_at: datetime
