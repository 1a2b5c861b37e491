from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waymark.kernel.errors import ValidationFailed
from waymark.kernel.pagination import decode_cursor, encode_cursor, paginate

# Keys come from database rows: text, never lone surrogates (category Cs), which no UTF-8
# column can hold. Hypothesis found one once; it is not a key this function can be given.
PRINTABLE = st.characters(min_codepoint=0x20, exclude_characters="\x7f", exclude_categories=("Cs",))


@given(st.text(alphabet=PRINTABLE, max_size=256))
def test_cursor_round_trips_any_printable_key(key: str) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@given(st.text(max_size=200))
def test_any_garbage_cursor_is_a_validation_error(cursor: str) -> None:
    """Whatever a client sends, the answer is a key or a 422, never another exception."""
    try:
        key = decode_cursor(cursor)
    except ValidationFailed as error:
        key = error.errors[0].field
        assert key == "query.cursor"
    assert isinstance(key, str)


@pytest.mark.parametrize(
    "bad", [encode_cursor("a\x00b"), "zzz", "!!!", "W10", "WyJhIiwiYiJd", "eyJhIjoxfQ"]
)
def test_known_bad_cursors(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(bad)


def test_paginate_uses_the_extra_row_only_as_a_signal() -> None:
    page = paginate(["a", "b", "c"], 2, key=lambda s: s)
    assert page.items == ["a", "b"]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor) == "b"
    assert paginate(["a", "b"], 2, key=lambda s: s).next_cursor is None
