"""What a consumer checks an event against before it applies it.

Anyone who can publish to the topic could send any event, so a consumer believes an event only
where it fits the consumer's own state (the order's amount, the payment's charge, the user's id)
and ids look like the ids this app makes. An event that does not fit is rejected: `reject` logs it
(WARNING, with why) and raises `RejectedEvent`, so the message fails, is never applied (the inbox
marker is not written) and, failing the same way on every receive, ends in the queue's DLQ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from chalicelib.events.envelope import Event, InvalidEvent
from chalicelib.observability import logger

# The ids this app makes: orders and payments uuid4().hex, users Cognito's `sub` (a UUID).
ID_FORMATS: Mapping[str, re.Pattern[str]] = {
    "order_id": re.compile(r"[0-9a-f]{32}"),
    "payment_id": re.compile(r"[0-9a-f]{32}"),
    "user_id": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}


class RejectedEvent(InvalidEvent):
    """An event that does not fit the consumer's state: logged, never applied, dead-lettered."""


def reject(event: Event, why: str, **context: Any) -> NoReturn:
    logger.warning("event rejected: it does not fit this service's state", extra={
        "event_type": event.event_type, "event_id": event.event_id, "why": why,
        **{name: str(value)[:200] for name, value in context.items()}})
    raise RejectedEvent(f"{event.event_type} {event.event_id} rejected: {why}")


def require_ids(event: Event, *names: str) -> None:
    """Reject `event` unless each of `names` in its data looks like an id of this app."""
    bad = [name for name in names
           if not isinstance(event.data.get(name), str) or not ID_FORMATS[name].fullmatch(event.data[name])]
    if bad:
        reject(event, f"{', '.join(bad)} is not an id of this app", **{name: event.data.get(name) for name in bad})


def require_same(event: Event, expected: Mapping[str, Any]) -> None:
    """Reject `event` unless its data holds exactly `expected` (e.g. the order's own amount and currency)."""
    different = {name: event.data.get(name) for name, value in expected.items()
                 if type(event.data.get(name)) is not type(value) or event.data.get(name) != value}
    if different:
        reject(event, f"{', '.join(different)} differ from this service's record", **different)
