"""A request's W3C trace context (`traceparent`) is taken only when well formed, beside its
X-Request-ID, and followed by the outbox into the jobs the request causes."""

from __future__ import annotations

from typing import Any

import pytest

from waymark.kernel.context import current_request_id, current_traceparent, request_context
from waymark.transport.http.context import _incoming

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def scope(*headers: tuple[str, str]) -> Any:
    return {"headers": [(k.encode(), v.encode()) for k, v in headers]}


def test_a_well_formed_traceparent_is_taken_with_the_request_id() -> None:
    assert _incoming(scope(("x-request-id", "req-1"), ("traceparent", TRACE))) == ("req-1", TRACE)


@pytest.mark.parametrize(
    "value",
    [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # an unknown version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        TRACE + "\nx-injected: 1",
        "",
    ],
)
def test_a_malformed_traceparent_is_ignored(value: str) -> None:
    assert _incoming(scope(("traceparent", value))) == (None, None)


def test_the_context_binds_both_and_restores_them() -> None:
    with request_context("req-1", TRACE):
        assert (current_request_id(), current_traceparent()) == ("req-1", TRACE)
        with request_context("job-2"):
            assert (current_request_id(), current_traceparent()) == ("job-2", None)
        assert current_traceparent() == TRACE
    assert (current_request_id(), current_traceparent()) == (None, None)
