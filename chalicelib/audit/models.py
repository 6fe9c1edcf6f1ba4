"""The audit log: one item per event, indexed by order for the order timeline."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta


class ByOrderIndex(GlobalSecondaryIndex["AuditRecord"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "ORDER#<order_id>"
    gsi1sk = UnicodeAttribute(range_key=True)  # "<occurred_at>#<event_id>": oldest first


class AuditRecord(Model):
    Meta = table_meta("audit")
    pk = UnicodeAttribute(hash_key=True)  # "EVENT#<event_id>"
    sk = UnicodeAttribute(range_key=True)  # "EVENT"
    event_type = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    body = UnicodeAttribute()  # the envelope as published
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_order = ByOrderIndex()
