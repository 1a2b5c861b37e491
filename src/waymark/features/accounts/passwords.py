"""Passwords of accounts: the policy a new one must meet (NIST SP 800-63B, ASVS 6.2), and
the checks every flow makes with the argon2 hasher (`waymark.infra.security.passwords`).

Every check and hash runs before or after a transaction, never inside one: a pooled
connection must not wait ~20 ms on argon2 (docs/architecture.md).
"""

from __future__ import annotations

import unicodedata
from importlib import resources
from importlib.resources.abc import Traversable

from waymark.infra.security.passwords import PasswordHasher
from waymark.kernel.errors import FieldError, ValidationFailed

MIN_LENGTH = 8
"""The shortest password any policy accepts (NIST SP 800-63B); a deployment may raise it."""
MAX_LENGTH = 1024
"""The longest password the default policy accepts; a deployment may lower it."""


NO_PASSWORD = "!"  # noqa: S105 (not a password: the mark of none)
"""The hash of an account that has no password (made through another site): no password
matches it, and it is not a PHC string any hasher makes."""


class Passwords:
    """The policy and the hasher, as the account flows use them."""

    def __init__(self, hasher: PasswordHasher, policy: PasswordPolicy) -> None:
        self.hasher = hasher
        self.policy = policy

    async def hash_new(self, password: str, *, email: str) -> str:
        """A hash of a new password for the account at `email` (canonical); ValidationFailed
        naming the field `password` when the policy refuses it."""
        errors = self.policy.check(password, email=email)
        if errors:
            raise ValidationFailed(errors)
        return await self.hasher.hash(password)

    async def matches(self, stored_hash: str, password: str) -> bool:
        if stored_hash == NO_PASSWORD:  # the same work, and never a match
            await self.hasher.verify_dummy(password)
            return False
        return await self.hasher.verify(stored_hash, password)

    async def match_nothing(self, password: str) -> None:
        """The work of `matches` for an account that does not exist (equal work for every
        address, docs/security.md)."""
        await self.hasher.verify_dummy(password)

    async def rehash_if_weaker(self, stored_hash: str, password: str) -> str | None:
        """A new hash of `password` if `stored_hash` (just verified) was made with weaker
        parameters than today's (rare: after the parameters rise)."""
        if self.hasher.needs_rehash(stored_hash):
            return await self.hasher.hash(password)
        return None


def shipped_common_passwords() -> Traversable:
    """The list of common passwords packaged with Waymark."""
    return resources.files("waymark.features.accounts") / "data" / "common-passwords.txt"


class PasswordPolicy:
    """What a new password must be: NIST SP 800-63B / ASVS 6.2, not composition rules.

    8 to `max_length` code points (after NFC; nothing is ever truncated), not one of the
    shipped common passwords, not the account's email or its local part. Upper case, digits
    and symbols are never demanded: they make passwords harder to remember, not to guess.
    """

    def __init__(
        self,
        *,
        min_length: int = MIN_LENGTH,
        max_length: int = MAX_LENGTH,
        common_passwords: Traversable | None = None,
    ) -> None:
        if not MIN_LENGTH <= min_length <= 64 <= max_length <= MAX_LENGTH:
            raise ValueError(f"need {MIN_LENGTH} <= min_length <= 64 <= max_length <= {MAX_LENGTH}")
        self.min_length = min_length
        self.max_length = max_length
        self._source = common_passwords or shipped_common_passwords()
        self._common: frozenset[str] | None = None

    @property
    def common_passwords(self) -> frozenset[str]:
        """The list, read on first use (not at import or construction) and kept."""
        if self._common is None:
            text = self._source.read_text(encoding="utf-8")
            self._common = frozenset(
                _fold(line.strip())
                for line in text.splitlines()
                if line.strip() and not line.startswith("#")
            )
        return self._common

    def check(self, password: str, *, email: str | None = None) -> list[FieldError]:
        """Every reason `password` is refused, as errors on the field `password`; [] if fine."""
        normalised = unicodedata.normalize("NFC", password)
        length = len(normalised)
        problems: list[str] = []
        if length < self.min_length:
            problems.append(f"must be at least {self.min_length} characters")
        elif length > self.max_length:
            problems.append(f"must be at most {self.max_length} characters")
        folded = _fold(normalised)
        if folded in self.common_passwords:
            problems.append("is too common: it appears in lists of leaked passwords")
        if email and _is_email_derived(folded, _fold(email.strip())):
            problems.append("must not be your email address")
        return [FieldError("password", message) for message in problems]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _is_email_derived(password: str, email: str) -> bool:
    local = email.rpartition("@")[0] or email
    if password in (email, local):
        return True
    # "alice.smith2024!" for alice.smith@...: the local part plus digits or symbols only.
    rest = password.removeprefix(local)
    return len(local) >= 4 and rest != password and not any(ch.isalpha() for ch in rest)
