"""Structured logs, metrics and the correlation id, through Powertools for AWS Lambda.

One Logger and one Metrics object for the whole app. The correlation id of the current request or
event lives in a ContextVar (so `chalice local`'s threads never see each other's) and is added to
every log line through Powertools' thread-safe keys.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:  # domain code imports this module; only the app's wiring needs chalice
    from chalice import Chalice

logger = Logger(service="storefront")
metrics = Metrics(namespace="Storefront", service="storefront")

_correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")
_VALID_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def bind_correlation_id(candidate: str | None) -> str:
    """Make `candidate` (when well formed, else a new id) the current correlation id; return it."""
    value = candidate if candidate and _VALID_CORRELATION_ID.fullmatch(candidate) else new_correlation_id()
    _correlation_id.set(value)
    logger.thread_safe_append_keys(correlation_id=value)
    return value


def current_correlation_id() -> str:
    return _correlation_id.get() or bind_correlation_id(None)


def install(app: Chalice) -> None:
    """Flush the invocation's metrics (embedded metric format on stdout) after every handler."""

    @app.middleware("all")
    def flush_metrics(event: Any, get_response: Any) -> Any:
        try:
            return get_response(event)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
