"""The one decoding path: caps on nesting and keys, and the error each bad input becomes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waymark.kernel.decoding import MAX_NESTING, decode
from waymark.kernel.errors import MalformedBody, ValidationFailed


def nested(depth: int, inner: bytes = b"1") -> bytes:
    """`depth` levels of alternating objects and arrays around `inner`."""
    opening = [b"[" if level % 2 else b'{"k": ' for level in range(depth)]
    closing = [b"]" if level % 2 else b"}" for level in reversed(range(depth))]
    return b"".join(opening) + inner + b"".join(closing)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


@pytest.mark.parametrize("depth", [1, MAX_NESTING])
def test_json_up_to_the_cap_decodes(depth: int) -> None:
    assert depth_of(decode(nested(depth), "json")) == depth


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1000, 100_000])
def test_json_past_the_cap_is_malformed(depth: int) -> None:
    with pytest.raises(MalformedBody, match=f"nested deeper than {MAX_NESTING}"):
        decode(nested(depth), "json")


@pytest.mark.parametrize("data", [b"[" * 100_000, b"[{" * 50_000, b"]" * 10 + b"[" * 10_000])
def test_unclosed_or_stray_brackets_never_reach_the_recursion_limit(data: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode(data, "json")


def test_brackets_inside_json_strings_are_text() -> None:
    tricky = ['[[[[{{{{"' * 20, "\\" * 3 + '"[[[', '\\"]]]]]', "\\\\", "]" * 50]
    assert decode(msgspec.json.encode(tricky), "json") == tricky


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(alphabet='[]{}"\\ab,:')
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values, wrap=st.integers(min_value=0, max_value=MAX_NESTING + 2))
def test_json_is_refused_exactly_when_deeper_than_the_cap(value: Any, wrap: int) -> None:
    for _ in range(wrap):
        value = [value]
    data = msgspec.json.encode(value)
    if depth_of(value) > MAX_NESTING:
        with pytest.raises(MalformedBody):
            decode(data, "json")
    else:
        assert decode(data, "json") == value


@pytest.mark.parametrize(
    "data",
    [
        b'{"title": "\xff\xfe"}',  # not UTF-8
        b'{"title": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
        b'{"title": "\\ud800"}',  # a lone surrogate escape
        b'{"a": ',
        b"\xef\xbb\xbf{}",  # a byte order mark
        b"",
        b"1" * 5000,  # past every number msgspec represents, with no schema to name it
        b"1e400",
    ],
)
def test_bytes_that_are_not_json_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode(data, "json")


class Doc(msgspec.Struct, forbid_unknown_fields=True):
    count: int


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_a_schema_mismatch_names_the_field(fmt: Any) -> None:
    data = b'{"count": "three"}' if fmt == "json" else b'count = "three"'
    with pytest.raises(ValidationFailed) as caught:
        decode(data, fmt, Doc)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("count", "Expected `int`, got `str`")
    ]


def test_malformed_wins_over_a_schema_mismatch_found_first() -> None:
    with pytest.raises(MalformedBody):
        decode(b'{"unknown": 1, "count": "\xff"}', "json", Doc)


def toml_array(depth: int) -> bytes:
    return b"a = " + b"[" * depth + b"1" + b"]" * depth


def toml_inline_tables(depth: int) -> bytes:
    return b"a = " + b"{ b = " * depth + b"1" + b" }" * depth


@pytest.mark.parametrize("make", [toml_array, toml_inline_tables])
def test_toml_nesting_has_the_same_cap(make: Any) -> None:
    assert depth_of(decode(make(MAX_NESTING), "toml")) == MAX_NESTING + 1  # `a` is a level
    for depth in (MAX_NESTING + 1, 1000):
        with pytest.raises(MalformedBody, match="nested deeper"):
            decode(make(depth), "toml")


@pytest.mark.parametrize("template", [b"%s = 1", b"[%s]", b"[[%s]]", b"x = { %s = 1 }"])
def test_toml_keys_have_at_most_the_cap_of_dotted_parts(template: bytes) -> None:
    def key(parts: int) -> bytes:
        return b" . ".join(b'"q.q"' if i % 2 else b"k" for i in range(parts))

    decode(template % key(MAX_NESTING), "toml")
    for parts in (MAX_NESTING + 1, 20_000):  # 20,000 parts took tomllib seconds and GBs
        with pytest.raises(MalformedBody, match="dotted parts"):
            decode(template % key(parts), "toml")


def test_brackets_and_dots_in_toml_strings_and_comments_are_text() -> None:
    strings = {
        "basic": '[[[[ "\\" {{{{ ' + "a." * 40,
        "literal": "[[[[ {{{{ '",
        "multi": '"""]]]]""' + "[" * 40,
        "hash": "# [[[[",
    }
    document = msgspec.toml.encode(strings) + b"# " + b"[" * 40 + b" a." * 40 + b"\n"
    document += b"ml = '''\n" + b"[" * 40 + b"''\n'''\n"
    assert decode(document, "toml") == {**strings, "ml": "[" * 40 + "''\n"}


toml_tables = st.recursive(
    st.dictionaries(st.text(alphabet="[]{}\"'#.\\ k\n", max_size=6), json_scalars, max_size=3),
    lambda children: st.dictionaries(st.text(alphabet="[].'\"k", max_size=4), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(table=toml_tables)
def test_any_shallow_toml_document_decodes(table: dict[str, Any]) -> None:
    try:  # TOML has no null: skip what it cannot write
        data = msgspec.toml.encode(table)
    except (TypeError, ValueError):
        return
    assert decode(data, "toml") == msgspec.toml.decode(data)


@pytest.mark.parametrize(
    "data",
    [b"a = " + b"9" * 5000, b'a = "\xff"', b"a = [", b"a = 1979-02-30"],
)
def test_bytes_that_are_not_toml_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode(data, "toml")
