"""What a consumer checks an event against before it applies it.

Anyone who can publish to the topic could send any event. Parsing (chalicelib/events/envelope.py)
already refuses data that is not of its type, ids that do not look like this app's included; a
consumer then believes an event only where it fits its own state (the order's amount, the payment's
charge). An event that does not fit is rejected: `reject` logs it (WARNING, with why) and raises
`RejectedEvent`, so the message fails, is never applied (the inbox marker is not written) and,
failing the same way on every receive, ends in the queue's DLQ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from chalicelib.events.catalog import EventData
from chalicelib.events.envelope import Event, InvalidEvent
from chalicelib.observability import logger

Value = str | int | bool | None


class RejectedEvent(InvalidEvent):
    """An event that does not fit the consumer's state: logged, never applied, dead-lettered."""


def reject(event: Event[EventData], why: str, **context: object) -> NoReturn:
    logger.warning("event rejected: it does not fit this service's state", extra={
        "event_type": event.event_type, "event_id": event.event_id, "why": why,
        **{name: str(value)[:200] for name, value in context.items()}})
    raise RejectedEvent(f"{event.event_type} {event.event_id} rejected: {why}")


def require_same(event: Event[EventData], expected: Mapping[str, Value]) -> None:
    """Reject `event` unless its data holds exactly `expected` (e.g. the order's own amount and currency)."""
    actual = {name: getattr(event.data, name, None) for name in expected}
    different = {name: value for name, value in actual.items()
                 if type(value) is not type(expected[name]) or value != expected[name]}
    if different:
        reject(event, f"{', '.join(different)} differ from this service's record", **different)
