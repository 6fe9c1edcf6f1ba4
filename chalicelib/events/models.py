"""The outbox (streamed to SNS by the publisher) and the inbox (event ids each consumer has applied)."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

UNPUBLISHED_SHARDS = 8  # the sparse index's partitions: every event is written to it and removed again


class UnpublishedIndex(GlobalSecondaryIndex["OutboxItem"]):
    """gsi1: the outbox items not yet published, oldest first per shard (sparse: published items leave it)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "UNPUBLISHED#<shard>"
    gsi1sk = UnicodeAttribute(range_key=True)  # "<recorded_at>#<event_id>"


class OutboxItem(Model):
    """One event, written in the same transaction as the state it reports; `gsi1pk`/`gsi1sk` until
    it is published (the publisher, or the relay, removes them and sets `published_at`)."""

    Meta = table_meta("outbox")
    pk = UnicodeAttribute(hash_key=True)  # "EVENT#<event_id>"
    sk = UnicodeAttribute(range_key=True)  # "EVENT"
    event_type = UnicodeAttribute()
    body = UnicodeAttribute()  # the envelope, as published
    expires_at = TTLAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    published_at = UnicodeAttribute(null=True)
    unpublished = UnpublishedIndex()


class InboxItem(Model):
    """Marks that `consumer` has applied `event_id`; a conditional put makes a redelivery a no-op."""

    Meta = table_meta("inbox")
    pk = UnicodeAttribute(hash_key=True)  # "<consumer>#<event_id>"
    sk = UnicodeAttribute(range_key=True)  # "APPLIED"
    expires_at = TTLAttribute()
