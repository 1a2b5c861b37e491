"""The correlation id of the work in progress: a request's id, followed into the jobs and
events it causes, with the request's W3C trace context (`traceparent`) when it came with one.
Logs read them through a processor, so binding them costs one ContextVar set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_Bound = tuple[str | None, str | None]
_request: ContextVar[_Bound] = ContextVar("waymark_request", default=(None, None))


def current_request_id() -> str | None:
    return _request.get()[0]


def current_traceparent() -> str | None:
    return _request.get()[1]


def set_request_id(request_id: str | None, traceparent: str | None = None) -> Token[_Bound]:
    return _request.set((request_id, traceparent))


def reset_request_id(token: Token[_Bound]) -> None:
    _request.reset(token)


@contextmanager
def request_context(request_id: str | None, traceparent: str | None = None) -> Iterator[None]:
    token = _request.set((request_id, traceparent))
    try:
        yield
    finally:
        _request.reset(token)
