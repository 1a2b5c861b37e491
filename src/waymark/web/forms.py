"""Forms decoded into the API's own request bodies, so a page and a REST call are checked by
the same schema and the same rules, and refused with the same field names and messages.

A refused form is shown again with a message by each field it concerns (and a summary on
top); what was typed is kept, passwords excepted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from waymark.kernel.decoding import field_error
from waymark.kernel.errors import FieldError, ValidationFailed, WaymarkError

T = TypeVar("T", bound=msgspec.Struct)
_MISSING = re.compile(r"Object missing required field `(?P<name>\w+)`")
_SECRET = re.compile(r"password", re.IGNORECASE)


@dataclass
class FormState:
    """A form as shown: what was typed (never a password), and what is wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    code: str = ""
    """The stable code of the error that refused the form, for pages that offer a way on."""

    @classmethod
    def refused(
        cls,
        error: WaymarkError,
        form: Mapping[str, str],
        *,
        fields: Mapping[str, str] | None = None,
    ) -> FormState:
        """The form again after `error`: field errors by the fields they name (`fields`
        maps a service's field name, or an error's code, to the form's field: `password`
        to `new_password`, `wrong-password` to `password`), anything else as the form's
        message."""
        state = cls(
            values={k: v for k, v in form.items() if not _SECRET.search(k)}, code=error.code
        )
        on_field = (fields or {}).get(error.code)
        if on_field is not None:
            state.errors[on_field] = error.title
            state.message = "Please correct the fields marked below."
        elif isinstance(error, ValidationFailed):
            for problem in error.errors:
                name = (fields or {}).get(problem.field, problem.field)
                if name in form:
                    state.errors.setdefault(name, _humane(problem.message))
                else:
                    state.message = _humane(problem.message)
            if state.errors and not state.message:
                state.message = "Please correct the fields marked below."
        else:
            state.message = error.title
        return state


def decode(schema: type[T], form: Mapping[str, str], *, checkboxes: Collection[str] = ()) -> T:
    """The form as a `schema` body (only its fields; a checkbox is true when sent), or
    ValidationFailed naming the fields, like the API's answer."""
    fields = set(schema.__struct_fields__)
    data: dict[str, object] = {name: value for name, value in form.items() if name in fields}
    for name in checkboxes:
        data[name] = name in form
    try:
        return msgspec.convert(data, type=schema, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed([_field_error(str(exc))]) from None


def _field_error(message: str) -> FieldError:
    missing = _MISSING.match(message)
    if missing:
        return FieldError(missing["name"], "This field is required.")
    return field_error(message)


def _humane(message: str) -> str:
    """msgspec's messages for the cases a person meets, in words."""
    if message.startswith("Expected `str` of length >= 1"):
        return "This field is required."
    if message.startswith("Expected `str` of length <="):
        limit = message.rsplit(" ", 1)[-1]
        return f"At most {limit} characters."
    if message.startswith("Invalid enum value"):  # a select's value that it does not offer
        return "Choose one of the options offered."
    return message[:1].upper() + message[1:]
