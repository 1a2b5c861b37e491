"""Limit apps: the least an ASGI server can do to give the same answer as Waymark.

Each is a plain ASGI callable with no framework, served by Granian with the same options as
Waymark (`bench.config.ServerSettings`), configured by the JSON file named in the environment
variable BENCH_LIMIT_CONFIG, which the scenario's `prepare` wrote from the running app.
"""
