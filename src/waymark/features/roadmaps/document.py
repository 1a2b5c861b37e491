"""The roadmap file format: parse (TOML or JSON) with errors that name the offending path,
canonical hashing, and export back to TOML."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from waymark.features.roadmaps.schemas import RoadmapSpec
from waymark.kernel import decoding
from waymark.kernel.errors import FieldError, PayloadTooLarge, ValidationFailed

DocumentFormat = decoding.Format

MAX_DOCUMENT_BYTES = 256 * 1024
"""28 times the built-in roadmap (9 KB for 45 topics): room for about a thousand described
topics. Parsing TOML is pure Python; this bounds one document to about 0.4 s of it."""

_BUILTIN_DIR = Path(__file__).parent / "data"


def builtin_path(slug: str) -> Path:
    """Where a roadmap shipped with Waymark lives (`backend` is the first)."""
    return _BUILTIN_DIR / f"{slug}.toml"


def format_of(path: Path) -> DocumentFormat:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix == ".json":
        return "json"
    raise ValidationFailed(
        [FieldError("file", f"unknown roadmap format {suffix!r}; use .toml or .json")]
    )


def parse(data: bytes, fmt: DocumentFormat) -> RoadmapSpec:
    """Decode and validate a roadmap document.

    Raises `MalformedBody` when the bytes are not TOML/JSON at all (or nest deeper than
    `decoding.MAX_NESTING`) and `ValidationFailed` (with one `FieldError` per problem, paths
    like `sections[2].topics[0].id`) otherwise; `PayloadTooLarge` past MAX_DOCUMENT_BYTES.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(f"a roadmap document is at most {MAX_DOCUMENT_BYTES // 1024} KiB")
    spec = decoding.decode(data, fmt, RoadmapSpec)
    errors = _semantic_errors(spec)
    if errors:
        raise ValidationFailed(errors)
    return spec


def load(path: Path) -> RoadmapSpec:
    """Parse a roadmap file, choosing the format by its extension."""
    fmt = format_of(path)
    with path.open("rb") as file:
        return parse(file.read(MAX_DOCUMENT_BYTES + 1), fmt)  # one byte over is enough to refuse


def canonical_json(spec: RoadmapSpec) -> bytes:
    return msgspec.json.encode(spec, order="deterministic")


def content_hash(spec: RoadmapSpec) -> str:
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def to_toml(spec: RoadmapSpec) -> str:
    return msgspec.toml.encode(spec).decode()


def _semantic_errors(spec: RoadmapSpec) -> list[FieldError]:
    """Rules a schema cannot state: ids are unique across the whole roadmap."""
    errors: list[FieldError] = []
    seen_sections: set[str] = set()
    seen_topics: dict[str, str] = {}
    for s_index, section in enumerate(spec.sections):
        if section.id in seen_sections:
            errors.append(
                FieldError(f"sections[{s_index}].id", f"duplicate section id {section.id!r}")
            )
        seen_sections.add(section.id)
        for t_index, topic in enumerate(section.topics):
            path = f"sections[{s_index}].topics[{t_index}].id"
            if topic.id in seen_topics:
                errors.append(
                    FieldError(
                        path, f"duplicate topic id {topic.id!r} (first at {seen_topics[topic.id]})"
                    )
                )
            else:
                seen_topics[topic.id] = path
    return errors
