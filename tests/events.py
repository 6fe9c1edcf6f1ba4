"""Events for tests, built as a consumer receives them: from the published schema's example
(docs/events/<EventType>.json) with the fields a test names over it, then parsed and validated by
`envelope.parse`, so a test can only hand a consumer an event that could arrive on its queue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from chalicelib.clock import now_iso
from chalicelib.events.catalog import EventData
from chalicelib.events.envelope import Event, parse

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "events"


@cache
def example(event_type: str) -> dict[str, Any]:
    """The example data of `event_type`'s published schema."""
    return json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))["examples"][0]


def body(event_type: str, data: Mapping[str, Any] | None = None, *, correlation_id: str = "test-correlation",
         event_id: str | None = None, example_data: bool = True, occurred_at: str | None = None,
         **fields: Any) -> str:
    """The envelope of an event of `event_type` as JSON, not validated (for bad-input tests)."""
    merged = {**(example(event_type) if example_data else {}), **(data or {}), **fields}
    return json.dumps({"event_id": event_id or str(uuid.uuid4()), "event_type": event_type,
                       "occurred_at": occurred_at or now_iso(), "version": 1, "correlation_id": correlation_id,
                       "data": merged})


def received(event_type: str, data: Mapping[str, Any] | None = None, *, correlation_id: str = "test-correlation",
             event_id: str | None = None, occurred_at: str | None = None, **fields: Any) -> Event[Any]:
    """A parsed, validated event of `event_type`: the example's data with `data` and `fields` over it."""
    return parse(body(event_type, data, correlation_id=correlation_id, event_id=event_id, occurred_at=occurred_at,
                      **fields))


def data_of(source: Event[EventData] | EventData) -> dict[str, Any]:
    """An event's data as the JSON object it is sent as."""
    data = source.data if isinstance(source, Event) else source
    return msgspec.to_builtins(data)


@dataclass
class Draft:
    """An envelope a test can still change (its data is a plain dict) before it is sent or parsed."""

    event_type: str
    data: dict[str, Any]
    correlation_id: str = "test-correlation"
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> str:
        return body(self.event_type, self.data, correlation_id=self.correlation_id, event_id=self.event_id,
                    example_data=False)

    def parsed(self) -> Event[Any]:
        return parse(self.to_json())


def draft(event_type: str, data: Mapping[str, Any] | None = None, **fields: Any) -> Draft:
    """A Draft of `event_type`: the example's data with `data` and `fields` over it."""
    return Draft(event_type, {**example(event_type), **(data or {}), **fields})
