"""The event envelope (docs/events.md), as a small immutable value."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.dynamo import now_iso
from chalicelib.observability import current_correlation_id

ENVELOPE_VERSION = 1


class InvalidEvent(ValueError):
    """A message that is not a well-formed envelope; it can never succeed, so it is not retried."""


@dataclass(frozen=True)
class Event:
    event_type: str
    data: dict[str, Any]
    correlation_id: str = field(default_factory=current_correlation_id)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=now_iso)
    version: int = ENVELOPE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, body: str) -> Event:
        try:
            raw = json.loads(body)
        except ValueError as exc:
            raise InvalidEvent(f"not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise InvalidEvent("not a JSON object")
        expected = {"event_id", "event_type", "occurred_at", "version", "correlation_id", "data"}
        missing = expected - raw.keys()
        if missing:
            raise InvalidEvent(f"missing {', '.join(sorted(missing))}")
        if not all(isinstance(raw[k], str) and raw[k] for k in ("event_id", "event_type", "occurred_at")):
            raise InvalidEvent("event_id, event_type and occurred_at must be non-empty strings")
        if not isinstance(raw["data"], dict) or not isinstance(raw["correlation_id"], str):
            raise InvalidEvent("data must be an object and correlation_id a string")
        return cls(**{k: raw[k] for k in expected})
