"""Structured logs: one JSON object per line on stdout, request ids bound per task.

Standard-library loggers (Granian, Alembic, SQLAlchemy) go through the same renderer, so an
operator's log pipeline sees one format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import msgspec
import structlog

from waymark.kernel.context import current_request_id, current_traceparent
from waymark.settings import LogSettings

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every line written while a request (or the job it caused) runs carries its id."""
    request_id = current_request_id()
    if request_id is not None:
        event.setdefault("request_id", request_id)
        traceparent = current_traceparent()
        if traceparent is not None:
            event.setdefault("trace_id", traceparent[3:35])
    return event


def _json(event: Any, **_: Any) -> str:
    return msgspec.json.encode(event, enc_hook=repr).decode()


def configure_logging(settings: LogSettings) -> None:
    """Set up structlog and the stdlib root logger; safe to call more than once."""
    level = _LEVELS[settings.level]
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info
            if settings.format == "json"
            else structlog.dev.set_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # SQL echo and driver chatter stay out unless asked for; so does Alembic's "Context impl"
    # line each time the readiness check reads the schema's revision.
    for chatty in ("sqlalchemy", "aiosqlite", "alembic"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
