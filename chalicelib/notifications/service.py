"""Notifications: store one notification and send one email per customer-facing event; list them.

Idempotent on the event id. The notification id is derived from the event id and stored with a
conditional put (with its NotificationStored event, in one transaction), then the email is sent and
the notification marked sent (PENDING -> SENT, also conditional). A redelivery finds the
notification: if it is SENT nothing happens; if it is still PENDING (the last attempt stopped
between the store and the send, or SES refused) the send is retried. So there is at most one
notification per event, and an email is sent once, except in the unavoidable window where SES
accepted it but the SENT mark was never written (then it is sent again
on the redelivery: at least once, never silently lost).

SES's `MessageRejected` is permanent (the same message would be refused again: an unverified sender,
a sandboxed account's unverified recipient, a virus): the notification is marked FAILED with SES's
reason and the message counts as handled, instead of being retried five times into the DLQ. Any
other error (throttling, SES unreachable) stays retryable.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib import aws, pagination
from chalicelib.accounts import cognito
from chalicelib.dynamo import TransactionFailed, condition_failed, now_iso, transaction, utc_now
from chalicelib.events import checks, outbox
from chalicelib.events.envelope import Event
from chalicelib.notifications import templates
from chalicelib.notifications.models import EMAIL_FAILED, EMAIL_NOT_SENT, EMAIL_PENDING, EMAIL_SENT, Notification
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings

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
    NOT_SENT = "not_sent"  # stored, but the address is not the user's verified one: no email
    REJECTED = "rejected"  # SES refused it for good; marked FAILED, not retried
    ALREADY_FAILED = "already_failed"


PERMANENT_SES_ERRORS = frozenset({"MessageRejected"})


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
    if notification.email_status == EMAIL_FAILED:
        logger.info("notification already failed", extra={"notification_id": notification.notification_id})
        return Outcome.ALREADY_FAILED
    if notification.email_status == EMAIL_NOT_SENT:
        return Outcome.NOT_SENT
    if not _is_verified_address_of(recipient):
        logger.warning("notification not emailed: not the user's verified address",
                       extra={"notification_id": notification.notification_id, "user_id": recipient.user_id})
        _mark(notification, EMAIL_NOT_SENT)
        return Outcome.NOT_SENT
    try:
        message_id = send_email(recipient.email, notification.subject, notification.body)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in PERMANENT_SES_ERRORS:
            raise
        reason = exc.response["Error"].get("Message") or exc.response["Error"]["Code"]
        _mark(notification, EMAIL_FAILED, failure_reason=reason)
        metrics.add_metric(name="NotificationsRejected", unit="Count", value=1)
        logger.warning("SES rejected the notification for good", extra={
            "notification_id": notification.notification_id, "event_type": event.event_type, "reason": reason})
        return Outcome.REJECTED
    _mark(notification, EMAIL_SENT, message_id=message_id)
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
    bad = [name for name in ("order_id", "user_id") if not checks.ID_FORMATS[name].fullmatch(data[name])]
    if bad:  # an order_id is mailed in the subject: never a sentence someone wrote into an event
        raise InvalidNotificationEvent(f"event data's {', '.join(bad)} is not an id of this app")
    return Recipient(user_id=data["user_id"], email=data["email"])


def _is_verified_address_of(recipient: Recipient) -> bool:
    """True if the event's address is the one Cognito holds verified for the user, now: an event
    names an address, but only the user pool says whose it is (a user cannot change it: the app
    client may not write `email`, infra/template.yaml)."""
    verified = cognito.verified_email(recipient.user_id)
    return verified is not None and verified.lower() == recipient.email.lower()


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
    stored = Event("NotificationStored", {"notification_id": notification_id, "user_id": recipient.user_id,
                                          "notification": notification_view(notification)},
                   correlation_id=event.correlation_id)
    try:
        with transaction() as tx:  # the live-update pusher learns of it from its event (docs/realtime.md)
            tx.save(notification, condition=Notification.pk.does_not_exist())
            outbox.record(tx, stored)
    except TransactionFailed as exc:
        if not condition_failed(exc):
            raise
        return Notification.get(notification.pk, NOTIFICATION_SORT_KEY, consistent_read=True)
    return notification


def send_email(to_address: str, subject: str, body: str) -> str:
    """Send a plain-text email from the stage's sender through SES; SES's MessageId."""
    response = aws.client("ses").send_email(
        Source=get_settings().sender_email,
        Destination={"ToAddresses": [to_address]},
        Message={"Subject": {"Data": subject, "Charset": "UTF-8"},
                 "Body": {"Text": {"Data": body, "Charset": "UTF-8"}}})
    return str(response["MessageId"])


def _mark(notification: Notification, status: str, message_id: str | None = None,
          failure_reason: str | None = None) -> None:
    """PENDING -> SENT (with SES's MessageId), FAILED (with SES's reason) or NOT_SENT, conditionally."""
    actions: list[Action] = [Notification.email_status.set(status)]
    if message_id is not None:
        actions += [Notification.email_message_id.set(message_id), Notification.sent_at.set(now_iso())]
    if failure_reason is not None:
        actions.append(Notification.failure_reason.set(failure_reason[:1000]))
    try:
        notification.update(actions=actions, condition=Notification.email_status == EMAIL_PENDING)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        logger.warning("notification was marked by a concurrent delivery",
                       extra={"notification_id": notification.notification_id, "status": status})


def _user_partition(user_id: str) -> str:
    return f"USER#{user_id}"


def list_notifications(user_id: str, limit: int = pagination.DEFAULT_PAGE_SIZE,
                       cursor: str | None = None) -> pagination.Page:
    """A page of the user's notifications, newest first: exactly one Query (`limit` as the route checked it)."""
    partition = _user_partition(user_id)
    notifications, last_key = pagination.query_page(Notification.by_user, partition, _LIST_SCOPE, _LIST_KEYS,
                                                     {"gsi1pk": partition}, limit, cursor)
    return pagination.page_of([notification_view(n) for n in notifications], _LIST_SCOPE, last_key)


def notification_view(notification: Notification) -> dict[str, Any]:
    return {"notification_id": notification.notification_id, "type": notification.type,
            "subject": notification.subject, "body": notification.body, "created_at": notification.created_at}
