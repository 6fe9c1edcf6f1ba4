"""Notifications: store one notification and send one email per customer-facing event; list them.

Idempotent on the event id. The notification id is derived from the event id and stored with a
conditional put, then the email is sent and the notification marked sent (PENDING -> SENT, also
conditional). A redelivery finds the notification: if it is SENT nothing happens; if it is still
PENDING (the last attempt stopped between the store and the send, or SES refused) the send is
retried. So there is at most one notification per event, and an email is sent once, except in the
unavoidable window where SES accepted it but the SENT mark was never written (then it is sent again
on the redelivery: at least once, never silently lost).
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import aws, pagination
from chalicelib.dynamo import now_iso, put_if_absent, utc_now
from chalicelib.errors import InvalidInput
from chalicelib.events.envelope import Event
from chalicelib.notifications import templates
from chalicelib.notifications.models import EMAIL_PENDING, EMAIL_SENT, Notification
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
NOTIFICATION_RETENTION = timedelta(days=365)  # removed afterwards by the table's TTL
NOTIFICATION_SORT_KEY = "NOTIFICATION"
# Fixed forever: notification ids of already-delivered events must stay the same.
_NOTIFICATION_ID_NAMESPACE = uuid.UUID("5b0f7c8e-3f4d-4a59-9a53-6f1d2a0c9e71")
_LIST_SCOPE = "notifications"
_LIST_KEYS = {"pk", "sk", "gsi1pk", "gsi1sk"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ADMIN_GROUP = "admin"


class InvalidNotificationEvent(ValueError):
    """An event of a notified type that lacks what a notification needs; it is retried, then DLQ'd."""


class Outcome(enum.Enum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Recipient:
    user_id: str
    email: str


def notification_id_for(event_id: str, admin_id: str | None = None) -> str:
    """The id of the one notification an event may cause (per admin, for admins' events): the same on
    every delivery."""
    return str(uuid.uuid5(_NOTIFICATION_ID_NAMESPACE, event_id if admin_id is None else f"{event_id}#{admin_id}"))


def notify(event: Event) -> Outcome:
    """Store the event's notification (once) and email it (until SES has accepted it once); an
    admins' event does so for every member of the `admin` group."""
    if event.event_type not in templates.NOTIFIED_EVENT_TYPES:
        logger.info("no notification for this event type", extra={"event_type": event.event_type})
        return Outcome.IGNORED
    if event.event_type not in templates.ADMIN_EVENT_TYPES:
        return _notify_one(event, recipient_of(event.data), notification_id_for(event.event_id))
    if not isinstance(event.data.get("order_id"), str) or not event.data["order_id"].strip():
        raise InvalidNotificationEvent("event data lacks order_id")
    outcomes = [_notify_one(event, admin, notification_id_for(event.event_id, admin.user_id)) for admin in admins()]
    return Outcome.SENT if Outcome.SENT in outcomes else Outcome.ALREADY_SENT


def admins() -> list[Recipient]:
    """Every member of the user pool's `admin` group with an email address."""
    found: list[Recipient] = []
    request = {"UserPoolId": get_settings().user_pool_id, "GroupName": ADMIN_GROUP}
    while True:
        page = aws.client("cognito-idp").list_users_in_group(**request)
        for user in page.get("Users", []):
            attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
            if attributes.get("sub") and _EMAIL.fullmatch(attributes.get("email", "")):
                found.append(Recipient(user_id=attributes["sub"], email=attributes["email"]))
        if not page.get("NextToken"):
            return found
        request["NextToken"] = page["NextToken"]


def _notify_one(event: Event, recipient: Recipient, notification_id: str) -> Outcome:
    notification = _store_once(event, recipient, templates.render(event.event_type, event.data), notification_id)
    if notification.email_status == EMAIL_SENT:
        logger.info("notification already sent", extra={"notification_id": notification.notification_id})
        return Outcome.ALREADY_SENT
    message_id = send_email(recipient.email, notification.subject, notification.body)
    _mark_sent(notification, message_id)
    metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
    logger.info("notification sent", extra={"notification_id": notification.notification_id,
                                            "event_type": event.event_type})
    return Outcome.SENT


def recipient_of(data: Mapping[str, Any]) -> Recipient:
    """Who the notification is for; InvalidNotificationEvent without user_id, email or order_id."""
    problems = [name for name in ("user_id", "email", "order_id")
                if not isinstance(data.get(name), str) or not data[name].strip()]
    if problems:
        raise InvalidNotificationEvent(f"event data lacks {', '.join(problems)}")
    if not _EMAIL.fullmatch(data["email"]):
        raise InvalidNotificationEvent("event data's email is not an email address")
    return Recipient(user_id=data["user_id"], email=data["email"])


def _store_once(event: Event, recipient: Recipient, message: templates.Message,
                notification_id: str) -> Notification:
    """The event's notification: stored now as PENDING, or the one an earlier delivery stored."""
    created_at = now_iso()
    notification = Notification(
        pk=f"NOTIFICATION#{notification_id}", sk=NOTIFICATION_SORT_KEY, notification_id=notification_id,
        user_id=recipient.user_id, event_id=event.event_id, type=event.event_type, subject=message.subject,
        body=message.body, created_at=created_at, email_status=EMAIL_PENDING,
        gsi1pk=_user_partition(recipient.user_id), gsi1sk=f"NOTIFICATION#{created_at}#{notification_id}",
        expires_at=utc_now() + NOTIFICATION_RETENTION)
    if put_if_absent(notification):
        return notification
    return Notification.get(notification.pk, NOTIFICATION_SORT_KEY, consistent_read=True)


def send_email(to_address: str, subject: str, body: str) -> str:
    """Send a plain-text email from the stage's sender through SES; SES's MessageId."""
    response = aws.client("ses").send_email(
        Source=get_settings().sender_email,
        Destination={"ToAddresses": [to_address]},
        Message={"Subject": {"Data": subject, "Charset": "UTF-8"},
                 "Body": {"Text": {"Data": body, "Charset": "UTF-8"}}})
    return response["MessageId"]


def _mark_sent(notification: Notification, message_id: str) -> None:
    try:
        notification.update(
            actions=[Notification.email_status.set(EMAIL_SENT), Notification.email_message_id.set(message_id),
                     Notification.sent_at.set(now_iso())],
            condition=Notification.email_status == EMAIL_PENDING)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        logger.warning("notification was marked sent by a concurrent delivery",
                       extra={"notification_id": notification.notification_id})


def _user_partition(user_id: str) -> str:
    return f"USER#{user_id}"


def list_notifications(user_id: str, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None) -> pagination.Page:
    """A page of the user's notifications, newest first: exactly one Query."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE}")
    partition = _user_partition(user_id)
    notifications, last_key = pagination.query_page(Notification.by_user, partition, _LIST_SCOPE, _LIST_KEYS,
                                                     {"gsi1pk": partition}, limit, cursor)
    return pagination.page_of([notification_view(n) for n in notifications], _LIST_SCOPE, last_key)


def notification_view(notification: Notification) -> dict[str, Any]:
    return {"notification_id": notification.notification_id, "type": notification.type,
            "subject": notification.subject, "body": notification.body, "created_at": notification.created_at}
