"""The audit log's subscription to the events topic."""

from __future__ import annotations

from chalice import Blueprint
from chalice.app import SNSEvent

from chalicelib.audit import service
from chalicelib.events.envelope import Event
from chalicelib.observability import bind_correlation_id, logger
from chalicelib.settings import resource_name

bp = Blueprint(__name__)


@bp.on_sns_message(topic=resource_name("events"))
def record_audit_event(event: SNSEvent) -> None:
    envelope = Event.from_json(event.message)
    bind_correlation_id(envelope.correlation_id)
    stored = service.record_event(envelope, event.message)
    logger.info("audit event", extra={"event_type": envelope.event_type, "event_id": envelope.event_id,
                                      "duplicate": not stored})
