"""Micro-benchmarks: one library call measured in-process, to choose between alternatives.

Unlike the scenarios (real servers, real load), each module here is a plain script:
`uv run python -m bench.micro.<name>`.
"""
