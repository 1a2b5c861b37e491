"""Rate limits of the export and the import (see `waymark.kernel.throttle`).

Both read or write the whole of an account's data: a person needs a few an hour, a script
gone wrong must not turn them into load."""

from __future__ import annotations

from waymark.kernel.throttle import Rule

EXPORT_ACCOUNT = Rule("export-account", 20, 3600)
IMPORT_ACCOUNT = Rule("import-account", 20, 3600)
