"""Limit for `page-roadmap-anon`: a stranger's roadmap page served from memory.

A stranger's page is the same for every stranger but for their form token (in the
`__Host-waymark_form` cookie they were given, and in the page's forms) and their theme, so
what the issue measures the app against is serving cached bytes: `raw_bytes.py`'s app, with
the page the app answered the scenario's request (its cookie) and the app's headers. The page
has no ETag (it is `no-store`): the scenario gives one no request carries.
"""

from __future__ import annotations

from bench.limits.raw_bytes import app

__all__ = ["app"]
