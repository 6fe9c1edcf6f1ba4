"""The connections table: who is connected, and when each import last got a progress frame.

Items (generic keys, see infra/template.yaml):
- connection  pk "CONNECTION#<connection_id>", sk "CONNECTION". One open WebSocket: its user, whether
              the user is an admin, when it expires (API Gateway closes a connection after 2 hours;
              the TTL removes an item whose `$disconnect` never ran). Found by user through gsi1
              (`USER#<user_id>`) and, for admins only, through the sparse gsi2 (`ADMINS`).
- push mark   pk "IMPORT#<import_id>", sk "PUSHED". When the last progress frame of an import went
              out: a conditional update on it keeps progress frames to at most one a second.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

ADMINS_PARTITION = "ADMINS"
CONNECTION_SK = "CONNECTION"
PUSH_MARK_SK = "PUSHED"


class ByUserIndex(GlobalSecondaryIndex["Connection"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "USER#<user_id>"
    gsi1sk = UnicodeAttribute(range_key=True)  # "CONNECTION#<connection_id>"


class AdminsIndex(GlobalSecondaryIndex["Connection"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)  # "ADMINS", set on admins' connections only
    gsi2sk = UnicodeAttribute(range_key=True)  # "CONNECTION#<connection_id>"


class Connection(Model):
    Meta = table_meta("connections")
    pk = UnicodeAttribute(hash_key=True)  # "CONNECTION#<connection_id>"
    sk = UnicodeAttribute(range_key=True)  # "CONNECTION"
    connection_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    is_admin = BooleanAttribute()
    connected_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()
    by_user = ByUserIndex()
    admins = AdminsIndex()


class PushMark(Model):
    Meta = table_meta("connections")
    pk = UnicodeAttribute(hash_key=True)  # "IMPORT#<import_id>"
    sk = UnicodeAttribute(range_key=True)  # "PUSHED"
    pushed_at = NumberAttribute()  # epoch seconds, fractional
    expires_at = TTLAttribute()
