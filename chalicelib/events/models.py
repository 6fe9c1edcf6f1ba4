"""The outbox (streamed to SNS by the publisher) and the inbox (event ids each consumer has applied)."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.dynamo import table_meta


class OutboxItem(Model):
    """One event waiting to be published. Written in the same transaction as the state it reports."""

    Meta = table_meta("outbox")
    pk = UnicodeAttribute(hash_key=True)  # "EVENT#<event_id>"
    sk = UnicodeAttribute(range_key=True)  # "EVENT"
    event_type = UnicodeAttribute()
    body = UnicodeAttribute()  # the envelope, as published
    expires_at = TTLAttribute()


class InboxItem(Model):
    """Marks that `consumer` has applied `event_id`; a conditional put makes a redelivery a no-op."""

    Meta = table_meta("inbox")
    pk = UnicodeAttribute(hash_key=True)  # "<consumer>#<event_id>"
    sk = UnicodeAttribute(range_key=True)  # "APPLIED"
    expires_at = TTLAttribute()
