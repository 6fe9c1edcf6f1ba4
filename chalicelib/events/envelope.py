"""The event envelope (docs/events.md) around one catalog event's data, and its parsing.

Every body is `{"event_id", "event_type", "occurred_at", "version", "correlation_id", "data"}`;
`event_type` and `version` come from the data's type in the catalog (chalicelib/events/catalog.py).
`parse` is the only way a consumer gets an event: it returns the typed data of a known type and
version, or raises `InvalidEvent` (not JSON, not an envelope, an unknown type or version, data that
does not validate), which the queue consumer logs and fails, so the message ends in the DLQ.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Generic, TypeVar, cast

import msgspec

from chalicelib.clock import now_iso
from chalicelib.events.catalog import EVENT_TYPES, EventData
from chalicelib.observability import current_correlation_id

D = TypeVar("D", bound=EventData, covariant=True)
_Text = Annotated[str, msgspec.Meta(min_length=1)]


class InvalidEvent(ValueError):
    """A message that is not a well-formed catalog event; it can never succeed, so it is dead-lettered."""


class OutgoingEvent(msgspec.Struct, frozen=True):
    """An event as the outbox holds and publishes it: its type (the SNS message attribute), its
    envelope as JSON text (written once, by outbox.record) and its id."""

    event_type: str
    body: str
    event_id: str


class Event(msgspec.Struct, Generic[D], frozen=True):
    """One event: its typed data and the envelope's fields."""

    data: D
    correlation_id: str = msgspec.field(default_factory=current_correlation_id)
    event_id: str = msgspec.field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = msgspec.field(default_factory=now_iso)

    @property
    def event_type(self) -> str:
        return self.data.EVENT_TYPE

    @property
    def version(self) -> int:
        return self.data.VERSION

    def to_json(self) -> str:
        return _ENCODER.encode(_Envelope(
            event_id=self.event_id, event_type=self.event_type, occurred_at=self.occurred_at,
            version=self.version, correlation_id=self.correlation_id, data=self.data)).decode()


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    # Keys sorted, as the bodies have always been written.
    correlation_id: str
    data: EventData
    event_id: str
    event_type: str
    occurred_at: str
    version: int


class _Received(msgspec.Struct, frozen=True, kw_only=True):
    event_id: _Text
    event_type: _Text
    occurred_at: _Text
    version: int
    correlation_id: str
    data: msgspec.Raw


_ENCODER = msgspec.json.Encoder()


@functools.cache
def _decoder(cls: type[msgspec.Struct]) -> msgspec.json.Decoder[msgspec.Struct]:
    """Built on first use: a decoder per type costs about 0.2 ms to build, which only consumers need."""
    return msgspec.json.Decoder(cls)


def parse(body: str | bytes) -> Event[EventData]:
    """The event in `body`, its data validated against its type; InvalidEvent when anything is off."""
    try:
        received = cast(_Received, _decoder(_Received).decode(body))
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not an event envelope: {exc}") from None
    cls = EVENT_TYPES.get(received.event_type)
    if cls is None:
        raise InvalidEvent(f"unknown event type {received.event_type[:100]!r}")
    if received.version != cls.VERSION:
        raise InvalidEvent(f"{received.event_type} version {received.version} is not {cls.VERSION}")
    try:
        data = cast(EventData, _decoder(cls).decode(received.data))
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"{received.event_type} {received.event_id}: {exc}") from None
    return Event(data=data, correlation_id=received.correlation_id, event_id=received.event_id,
                 occurred_at=received.occurred_at)
