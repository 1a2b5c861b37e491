"""Roadmap documents: validation errors name the offending path; formats round-trip."""

from __future__ import annotations

import msgspec
import pytest
from typer.testing import CliRunner

from waymark import cli
from waymark.features.roadmaps import document
from waymark.kernel.errors import MalformedBody, ValidationFailed

VALID = {
    "slug": "tiny",
    "title": "Tiny",
    "sections": [
        {"id": "one", "title": "One", "topics": [{"id": "one.a", "title": "A"}]},
        {"id": "two", "title": "Two", "topics": [{"id": "two.b", "title": "B", "kind": "extra"}]},
    ],
}


def _json(value: object) -> bytes:
    return msgspec.json.encode(value)


def test_valid_document_parses_with_defaults() -> None:
    spec = document.parse(_json(VALID), "json")
    assert spec.sections[0].topics[0].kind == "core"
    assert spec.sections[1].topics[0].kind == "extra"
    assert spec.description == ""


@pytest.mark.parametrize(
    ("mutate", "field", "message_part"),
    [
        (
            lambda d: d["sections"][1]["topics"][0].update(title=7),
            "sections[1].topics[0].title",
            "Expected `str`",
        ),
        (lambda d: d["sections"][0].update(colour="red"), "sections[0]", "unknown field `colour`"),
        (
            lambda d: d["sections"][0]["topics"][0].update(id="NoDot"),
            "sections[0].topics[0].id",
            "matching regex",
        ),
        (
            lambda d: d["sections"][0]["topics"][0].update(kind="bonus"),
            "sections[0].topics[0].kind",
            "Invalid enum",
        ),
        (lambda d: d.update(sections=[]), "sections", "length >= 1"),
        (lambda d: d.pop("slug"), "$", "missing required field `slug`"),
    ],
)
def test_schema_errors_name_the_path(mutate, field: str, message_part: str) -> None:  # type: ignore[no-untyped-def]
    data = msgspec.json.decode(_json(VALID))
    mutate(data)
    with pytest.raises(ValidationFailed) as caught:
        document.parse(_json(data), "json")
    (error,) = caught.value.errors
    assert error.field == field
    assert message_part in error.message


def test_duplicate_ids_are_reported_with_both_places() -> None:
    data = msgspec.json.decode(_json(VALID))
    data["sections"][1]["topics"].append({"id": "one.a", "title": "Again"})
    data["sections"].append({"id": "one", "title": "Dup", "topics": [{"id": "x.y", "title": "Y"}]})
    with pytest.raises(ValidationFailed) as caught:
        document.parse(_json(data), "json")
    fields = {e.field: e.message for e in caught.value.errors}
    assert "first at sections[0].topics[0].id" in fields["sections[1].topics[1].id"]
    assert "duplicate section id" in fields["sections[2].id"]


@pytest.mark.parametrize(
    ("raw", "fmt"),
    [(b'{"slug": ', "json"), (b"slug = ", "toml"), (b"\xff\xfe", "json"), (b"\x80", "toml")],
)
def test_unparseable_bytes_are_malformed_not_invalid(
    raw: bytes, fmt: document.DocumentFormat
) -> None:
    with pytest.raises(MalformedBody):
        document.parse(raw, fmt)


def test_toml_export_round_trips_and_hash_is_stable() -> None:
    spec = document.load(document.builtin_path("backend"))
    again = document.parse(document.to_toml(spec).encode(), "toml")
    assert again == spec
    assert document.content_hash(again) == document.content_hash(spec)


def test_hash_changes_with_any_content_change() -> None:
    spec = document.parse(_json(VALID), "json")
    changed = msgspec.json.decode(_json(VALID))
    changed["sections"][0]["topics"][0]["description"] = "now described"
    assert document.content_hash(document.parse(_json(changed), "json")) != document.content_hash(
        spec
    )


def test_unknown_extension_is_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "roadmap.yaml"
    path.write_text("slug: x")
    with pytest.raises(ValidationFailed, match="unknown roadmap format"):
        document.load(path)


def _refusal(data: object) -> tuple[str, str]:
    """The one field error parsing `data` gives, as (field, message)."""
    with pytest.raises(ValidationFailed) as caught:
        document.parse(_json(data), "json")
    (error,) = caught.value.errors
    return error.field, error.message


def _with(path: tuple[str | int, ...], value: object) -> object:
    """VALID with the field at `path` set to `value`."""
    data = msgspec.json.decode(_json(VALID))
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


TITLES = {
    "title": ("title",),
    "sections[0].title": ("sections", 0, "title"),
    "sections[1].topics[0].title": ("sections", 1, "topics", 0, "title"),
}
DESCRIPTIONS = {
    "description": ("description",),
    "sections[0].description": ("sections", 0, "description"),
    "sections[1].topics[0].description": ("sections", 1, "topics", 0, "description"),
}


@pytest.mark.parametrize("field", TITLES)
@pytest.mark.parametrize("char", ["\x00", "\x07", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"])
def test_titles_refuse_every_control_character(field: str, char: str) -> None:
    """PostgreSQL cannot store NUL, and a title is one line of plain text."""
    refused_field, message = _refusal(_with(TITLES[field], f"A{char}B"))
    assert (refused_field, message.split(" matching regex")[0]) == (field, "Expected `str`")


@pytest.mark.parametrize("field", DESCRIPTIONS)
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f"])
def test_descriptions_refuse_control_characters_but_tabs_and_line_breaks(
    field: str, char: str
) -> None:
    path = DESCRIPTIONS[field]
    refused_field, message = _refusal(_with(path, f"A{char}B"))
    assert (refused_field, message.split(" matching regex")[0]) == (field, "Expected `str`")
    document.parse(_json(_with(path, "line one\r\n\tline two\n")), "json")


@pytest.mark.parametrize(
    ("field", "path", "longest"),
    [
        ("slug", ("slug",), 64),
        ("title", ("title",), 200),
        ("description", ("description",), 4000),
        ("sections[0].id", ("sections", 0, "id"), 64),
        ("sections[1].topics[0].title", ("sections", 1, "topics", 0, "title"), 200),
        ("sections[1].topics[0].description", ("sections", 1, "topics", 0, "description"), 4000),
    ],
)
def test_text_fields_are_capped(field: str, path: tuple[str | int, ...], longest: int) -> None:
    document.parse(_json(_with(path, "a" * longest)), "json")
    assert _refusal(_with(path, "a" * (longest + 1))) == (
        field,
        f"Expected `str` of length <= {longest}",
    )


def _sections(count: int, topics: int = 1) -> list[dict[str, object]]:
    return [
        {
            "id": f"s{n}",
            "title": "S",
            "topics": [{"id": f"s{n}.t{m}", "title": "T"} for m in range(topics)],
        }
        for n in range(count)
    ]


def test_a_document_holds_at_most_100_sections_of_at_most_500_topics() -> None:
    most_sections = document.parse(_json(VALID | {"sections": _sections(100)}), "json")
    assert len(most_sections.sections) == 100
    most_topics = document.parse(_json(VALID | {"sections": _sections(1, 500)}), "json")
    assert len(most_topics.sections[0].topics) == 500
    assert _refusal(VALID | {"sections": _sections(101)}) == (
        "sections",
        "Expected `array` of length <= 100",
    )
    assert _refusal(VALID | {"sections": _sections(1, 501)}) == (
        "sections[0].topics",
        "Expected `array` of length <= 500",
    )
    assert _refusal(VALID | {"sections": _sections(1, 0)}) == (
        "sections[0].topics",
        "Expected `array` of length >= 1",
    )


PATHOLOGICAL_FILES = {
    "nested.toml": b"slug = " + b"[" * 1000 + b"]" * 1000,
    "nested.json": b'{"slug": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "huge-integer.toml": b"format = " + b"9" * 5000,
    "deep-key.toml": b"a" + b".a" * 10_000 + b" = 1",
    "not-utf8.toml": b'slug = "\xff"',
    "too-big.toml": b"# " + b"x" * document.MAX_DOCUMENT_BYTES,
}


@pytest.mark.parametrize("name", PATHOLOGICAL_FILES)
def test_import_command_refuses_pathological_files_cleanly(tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(PATHOLOGICAL_FILES[name])
    result = CliRunner().invoke(cli.app, ["roadmaps", "import", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error (malformed-body)") or result.output.startswith(
        "error (payload-too-large)"
    )
    assert "Traceback" not in result.output
