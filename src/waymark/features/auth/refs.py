"""How sessions are named to their users (`GET /me/sessions`, the `sid` claim), and what a
session's own ceremonies are named by."""

from __future__ import annotations

from typing import Literal

from waymark.kernel.identity import Principal, hash_token


def browser_ref(id_hash: str) -> str:
    """A browser session's name: a prefix of its id's hash (never the id)."""
    return f"s:{id_hash[:16]}"


def family_ref(family_id: str) -> str:
    """An API client's token family's name; also the `sid` claim of its access tokens."""
    return f"f:{family_id}"


def parse_ref(ref: str) -> tuple[Literal["s", "f"], str] | None:
    """The kind and key of a name made by `browser_ref` or `family_ref`, else None."""
    kind, _, key = ref.partition(":")
    if kind == "s" and key:
        return "s", key
    if kind == "f" and key:
        return "f", key
    return None


def step_up_attempt(principal: Principal) -> str:
    """What a step-up's ceremony (a passkey's options) is kept under: bound to this session
    or token family, so an assertion made for one proves nothing on another."""
    return hash_token(f"step-up:{principal.session_key}")
