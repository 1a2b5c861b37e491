"""One module per scenario, each defining `SCENARIO`; modules starting with `_` are helpers."""
