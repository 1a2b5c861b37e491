"""Untrusted JSON and TOML to values: the one decoding path for request bodies and roadmap
documents, with the caps that keep a hostile input a 400 instead of a 500 or a stall.

Every failure is a `WaymarkError`: bytes that are not the format at all (invalid UTF-8,
broken syntax, numbers no parser should build, nesting past `MAX_NESTING`) are
`MalformedBody`; well-formed input of the wrong shape is `ValidationFailed`, one
`FieldError` per problem with its path (`sections[2].topics[0].id`).

The nesting cap is checked on the raw bytes before parsing, because both parsers recurse
once per level: past Python's recursion limit (about 1,000 levels) they raise
`RecursionError`, and below it a deep document still costs a stack frame per level. TOML has a
second kind of depth, dotted keys (`a.b.c = 1`), which Python's TOML parser handles in time
and memory quadratic in the number of parts (32 KB of `a.a.a…` took 2.7 s and 1 GB), so keys
are capped at the same number of parts.
"""

from __future__ import annotations

import datetime
import itertools
import re
from typing import Any, Literal, TypeVar, overload

import msgspec

from waymark.kernel.errors import FieldError, MalformedBody, ValidationFailed

T = TypeVar("T")
Format = Literal["json", "toml"]

MAX_NESTING = 32
"""Arrays and objects (tables) inside each other, and parts of one dotted TOML key. Eight
times what any Waymark schema needs (a roadmap document is 5 deep), far below where a
recursive parser runs out of stack."""

# Strings (and TOML comments) are skipped before counting brackets, since a bracket inside
# them is text. Each TOML alternative matches from its opening character to its end or to the
# end of the input, so one left-to-right pass never backtracks over what it has scanned.
_TOML_STRINGS_AND_COMMENTS = re.compile(
    rb'"""(?:[^"\\]++|\\[\s\S]|"(?!""))*+(?:"{3,5}|\\?\Z)'  # multi-line basic string
    rb"|'''(?:[^']++|'(?!''))*+(?:'{3,5}|\Z)"  # multi-line literal string
    rb'|"(?:[^"\\\n]++|\\[^\n])*+(?:"|\\?$)'  # basic string
    rb"|'[^'\n]*+(?:'|$)"  # literal string
    rb"|\#[^\n]*+",  # comment
    re.MULTILINE,
)
# A TOML key of more than MAX_NESTING dotted parts (quoted parts were replaced by `_`). The
# look-behind starts a match only at the start of a part: each attempt is then linear.
_DEEP_TOML_KEY = re.compile(rb"(?<![\w.-])[\w-]++(?:[ \t]*+\.[ \t]*+[\w-]++){%d}" % MAX_NESTING)
# Brackets as signed bytes, +1 opening and -1 closing, the rest dropped: the running sum is
# the depth. Whether they match is the parser's business.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_TOML_BUILTINS = (datetime.datetime, datetime.date, datetime.time)  # as msgspec.toml.decode
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


@overload
def decode(data: bytes, fmt: Format) -> Any: ...
@overload
def decode(data: bytes, fmt: Format, into: type[T]) -> T: ...
def decode(data: bytes, fmt: Format, into: Any = Any) -> Any:
    """Decode `data` as `fmt`, then convert it to `into` (builtins when omitted).

    Two steps, so that what is malformed is always found before what is merely invalid:
    a schema mismatch early in a document never hides invalid UTF-8 later in it.
    """
    check_nesting(data, fmt)
    try:
        value = msgspec.json.decode(data) if fmt == "json" else msgspec.toml.decode(data)
    except ValueError as exc:
        # Syntax (msgspec.DecodeError), invalid UTF-8, and numbers no parser should build:
        # past int64/uint64 and float in JSON, past 4,300 digits in TOML (Python's limit).
        raise MalformedBody(f"not valid {fmt.upper()}: {exc}") from None
    except RecursionError:
        # Unreachable after check_nesting; kept so that a gap in it is a 400, never a 500.
        raise MalformedBody(f"{fmt.upper()} nested too deeply") from None
    if into is Any:
        return value
    try:
        if fmt == "json":
            return msgspec.convert(value, into)
        return msgspec.convert(value, into, builtin_types=_TOML_BUILTINS, str_keys=True)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([field_error(str(exc))]) from None


def check_nesting(data: bytes, fmt: Format) -> None:
    """Refuse brackets nested deeper than MAX_NESTING (and TOML keys with more parts)."""
    if fmt == "toml":
        text = _TOML_STRINGS_AND_COMMENTS.sub(b"_", data)
        if _DEEP_TOML_KEY.search(text):
            raise MalformedBody(f"a TOML key has more than {MAX_NESTING} dotted parts")
    elif data.count(b"[") + data.count(b"{") <= MAX_NESTING:
        return  # most request bodies: too few brackets to nest that deep
    else:
        text = _without_json_strings(data)
    # The parser recurses only through a well-formed prefix of the input, where the running
    # sum is exactly its depth; it stops at the first stray bracket.
    steps = memoryview(text.translate(_STEPS, _NOT_BRACKETS)).cast("b")
    if max(itertools.accumulate(steps), default=0) > MAX_NESTING:
        raise MalformedBody(f"{fmt.upper()} nested deeper than {MAX_NESTING} levels")


def _without_json_strings(data: bytes) -> bytes:
    """`data` with its JSON strings cut out (3x faster than a regular expression).

    Escaped backslashes go first, then escaped quotes: what is left between two quotes is a
    string. Outside strings a backslash is a syntax error, where the parser stops; up to it,
    this cut and the parser agree, so the parser never goes deeper than what was counted.
    """
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[::2])


def field_error(message: str) -> FieldError:
    """A msgspec validation message (`Expected str - at `$.a[0]``) as a FieldError."""
    match = _AT_PATH.match(message)
    assert match is not None  # the pattern matches any string
    path = (match["path"] or "").lstrip(".")
    return FieldError(path or "$", match["message"])
