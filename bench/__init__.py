"""Waymark's benchmark harness: every scenario measured beside its physical limit.

Run it with `uv run python -m bench` (all scenarios) or `uv run python -m bench -s roadmap-get`;
`bench/README.md` says what each scenario and limit is and how to add one.
"""
