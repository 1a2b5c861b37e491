"""Where a visitor may be sent after signing in (or after confirming an address, or going
back from a form): a path on this site, never another site.

The pages follow a `next` path on these occasions, and the accounts feature carries one in
a confirmation link it mails (a sign-up begun from an invite's page comes back to it), so
the rule is kernel vocabulary, checked wherever a path comes in and again where it is
followed."""

from __future__ import annotations

from urllib.parse import quote

MAX_PATH = 2000


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default`: never another site
    (`//evil.example`, `/\\evil.example`, `https://...`, `javascript:`), nor a path that
    could break out of a header or a URL (CR, LF, tab, backslash), nor one over 2000
    characters."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\\\r\n\t")
        or len(target) > MAX_PATH
    ):
        return default
    return target


def with_next(url: str, target: str | None) -> str:
    """`url` with `next=target` added to its query when `target` is a local path (quoted,
    so that its own `?` and `&` stay in it); `url` alone otherwise."""
    path = local_path(target, "")
    if not path:
        return url
    return f"{url}{'&' if '?' in url else '?'}next={quote(path, safe='/')}"
