"""The notifications table: one item per notification, listed per user through gsi1."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

EMAIL_PENDING = "PENDING"  # stored, email not yet accepted by SES
EMAIL_SENT = "SENT"
EMAIL_NOT_SENT = "NOT_SENT"  # never sent: the address is not the user's verified one (or the user is gone)
EMAIL_FAILED = "FAILED"  # SES refused the message for good (MessageRejected): never retried


class ByUserIndex(GlobalSecondaryIndex["Notification"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "USER#<user_id>"
    gsi1sk = UnicodeAttribute(range_key=True)  # "NOTIFICATION#<created_at>#<notification_id>"


class Notification(Model):
    """Keyed by the notification id alone (derived from the event id), so a conditional put of the
    same event's notification fails however often the event is delivered."""

    Meta = table_meta("notifications")
    pk = UnicodeAttribute(hash_key=True)  # "NOTIFICATION#<notification_id>"
    sk = UnicodeAttribute(range_key=True)  # "NOTIFICATION"
    notification_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()  # the event type, e.g. "OrderPlaced"
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    created_at = UnicodeAttribute()
    email_status = UnicodeAttribute()  # EMAIL_PENDING -> EMAIL_SENT or EMAIL_FAILED
    email_message_id = UnicodeAttribute(null=True)  # SES's MessageId once sent
    sent_at = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)  # SES's message when EMAIL_FAILED
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    expires_at = TTLAttribute()
    by_user = ByUserIndex()
