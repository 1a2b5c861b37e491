"""The password policy: length in code points, no composition rules, common and email-derived
passwords refused, the shipped list read lazily once."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from waymark.features.accounts.passwords import PasswordPolicy, shipped_common_passwords
from waymark.kernel.errors import FieldError

EMAIL = "alice.smith@example.com"


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy()


def messages(errors: list[FieldError]) -> list[str]:
    assert all(e.field == "password" for e in errors)
    return [e.message for e in errors]


@pytest.mark.parametrize(
    ("length", "accepted"),
    [
        (0, False),
        (7, False),
        (8, True),
        (64, True),
        (128, True),
        (129, True),
        (1024, True),
        (1025, False),
        (5000, False),
    ],
)
def test_length_limits(policy: PasswordPolicy, length: int, accepted: bool) -> None:
    password = ("vq7#Lm2x" * 700)[:length]
    assert (policy.check(password, email=EMAIL) == []) is accepted


def test_length_counts_code_points_after_nfc(policy: PasswordPolicy) -> None:
    eight = unicodedata.normalize("NFD", "é" * 8)  # 16 code points as typed on macOS
    seven = unicodedata.normalize("NFD", "é" * 7)  # 14 code points, 7 characters
    assert len(seven) == 14
    assert policy.check(eight, email=EMAIL) == []
    assert messages(policy.check(seven, email=EMAIL)) == ["must be at least 8 characters"]
    assert policy.check("😀🐍🦀🎉🌍🔥💡🚀", email=EMAIL) == []  # 8 astral code points


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "alllowercaseletters",
        "ALLUPPERCASELETTERS",
        "90817263544",
        "ceci n'est pas un mot de passe",
        "пароль-для-вэймарка",
        "   leading and trailing spaces   ",
    ],
)
def test_no_composition_rules(policy: PasswordPolicy, password: str) -> None:
    assert policy.check(password, email=EMAIL) == []


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "PASSWORD",
        "PassWord",
        "iloveyou",
        "ILoveYou1",
        "12345678",
        "123456789",
        "qwertyuiop",
        "1q2w3e4r",
        "1qaz2wsx",
        "zaq12wsx",
        "asdfghjkl",
        "qwerty123",
        "password123!",
        "P@ssw0rd",
        "dragon2024",
        "monkey123",
        "football1",
        "sunshine!",
        "trustno1",
        "letmein123",
        "00000000",
        "11111111",
        "abcd1234",
        "zxcvbnm123",
        "passw0rd",
        "iloveyou2",
        "superman1",
    ],
)
def test_common_passwords_are_refused_whatever_the_case(
    policy: PasswordPolicy, password: str
) -> None:
    assert "is too common: it appears in lists of leaked passwords" in messages(
        policy.check(password, email=EMAIL)
    )


def test_a_short_common_password_gets_both_reasons(policy: PasswordPolicy) -> None:
    assert messages(policy.check("123456", email=EMAIL)) == [
        "must be at least 8 characters",
        "is too common: it appears in lists of leaked passwords",
    ]


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        (EMAIL, True),
        ("Alice.Smith@Example.com", True),
        ("alice.smith", True),
        ("ALICE.SMITH", True),
        ("alice.smith2024!", True),
        ("alice.smith loves long hikes", False),
        ("not alice.smith at all", False),
    ],
)
def test_the_email_and_its_local_part_are_refused(
    policy: PasswordPolicy, password: str, refused: bool
) -> None:
    refusal = "must not be your email address"
    assert (refusal in messages(policy.check(password, email=EMAIL))) is refused


def test_no_email_means_no_email_rule(policy: PasswordPolicy) -> None:
    assert policy.check("alice.smith", email=None) == []


def test_the_shipped_list_is_large_and_normalised(policy: PasswordPolicy) -> None:
    common = policy.common_passwords
    assert len(common) > 10_000
    assert {"123456", "password", "qwerty", "iloveyou", "1qaz2wsx", "qwertyuiop"} <= common
    assert all(p == unicodedata.normalize("NFC", p).casefold() and p.strip() == p for p in common)
    lines = shipped_common_passwords().read_text(encoding="utf-8").splitlines()
    plain = [line for line in lines if line and not line.startswith("#")]
    assert len(plain) == len(set(plain))  # no duplicates in the file


def test_the_list_is_read_on_first_use_and_only_once(tmp_path: Path) -> None:
    listing = tmp_path / "common.txt"
    policy = PasswordPolicy(common_passwords=listing)  # does not exist yet: nothing read
    listing.write_text("# comment\n\nHunter2Hunter2\n", encoding="utf-8")
    assert policy.check("hunter2hunter2", email=None) != []
    listing.unlink()  # a second read would fail
    assert policy.check("HUNTER2HUNTER2", email=None) != []
    assert policy.common_passwords == frozenset({"hunter2hunter2"})


def test_limits_cannot_be_set_below_the_standard() -> None:
    with pytest.raises(ValueError, match="min_length"):
        PasswordPolicy(min_length=6)
    with pytest.raises(ValueError, match="max_length"):
        PasswordPolicy(max_length=32)
