"""Notifications: store one notification and send one email per customer-facing event; list them.

Idempotent on the event id, in one write per notification. The notification id is derived from the
event id; a delivery reads it (strongly consistent) and, if it is not stored yet, sends the email and
then stores the notification with the email's outcome (SENT with SES's MessageId, FAILED, NOT_SENT)
and its NotificationStored event, in one conditional transaction. A redelivery finds it and does
nothing. If the send fails (SES unreachable, throttled) nothing is written and the redelivery tries
again. So there is at most one notification per event, and an email is sent once, except in the
unavoidable window where SES accepted it but the write did not happen (then it is sent again on the
redelivery: at least once, never silently lost), or when two deliveries of one event run at the same
moment (the second's write is refused and logged). Before, the notification was stored PENDING, then
marked: two writes (bench/cost.py); items still PENDING from then are sent and marked as before.

SES's `MessageRejected` is permanent (the same message would be refused again: an unverified sender,
a sandboxed account's unverified recipient, a virus): the notification is marked FAILED with SES's
reason and the message counts as handled, instead of being retried five times into the DLQ. Any
other error (throttling, SES unreachable) stays retryable.
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import timedelta

import msgspec
from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib import aws, pagination
from chalicelib.accounts import cognito
from chalicelib.clock import now_iso, utc_now
from chalicelib.dynamo import TransactionFailed, condition_failed, transaction
from chalicelib.events import outbox
from chalicelib.events.catalog import CustomerData, NotificationStored, NotificationView
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


class Outcome(enum.Enum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    NOT_SENT = "not_sent"  # stored, but the address is not the user's verified one: no email
    REJECTED = "rejected"  # SES refused it for good; marked FAILED, not retried
    ALREADY_FAILED = "already_failed"


PERMANENT_SES_ERRORS = frozenset({"MessageRejected"})


class Recipient(msgspec.Struct, frozen=True):
    user_id: str
    email: str


def notification_id_for(event_id: str, admin_id: str | None = None) -> str:
    """The id of the one notification an event may cause (per admin, for admins' events): the same on
    every delivery."""
    return str(uuid.uuid5(_NOTIFICATION_ID_NAMESPACE, event_id if admin_id is None else f"{event_id}#{admin_id}"))


def notify(event: Event[CustomerData]) -> Outcome:
    """Store the event's notification (once) and email it (until SES has accepted it once); an
    admins' event does so for every member of the `admin` group. The event's data is already
    validated (its ids are this app's, its email an address: chalicelib/events/catalog.py), and of a
    type with words in templates.py: the queue's dispatch takes no other (events/subscriptions.py)."""
    if event.event_type not in templates.ADMIN_EVENT_TYPES:
        recipient = Recipient(user_id=event.data.user_id, email=event.data.email)
        return _notify_one(event, recipient, notification_id_for(event.event_id))
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


def _notify_one(event: Event[CustomerData], recipient: Recipient, notification_id: str) -> Outcome:
    existing = _stored(notification_id)
    if existing is not None and existing.email_status != EMAIL_PENDING:
        logger.info("notification already handled", extra={"notification_id": notification_id,
                                                            "email_status": existing.email_status})
        return _ALREADY[existing.email_status]
    message = templates.render(event.event_type, event.data)
    message_id = reason = None
    if not _is_verified_address_of(recipient):
        logger.warning("notification not emailed: not the user's verified address",
                       extra={"notification_id": notification_id, "user_id": recipient.user_id})
        status, outcome = EMAIL_NOT_SENT, Outcome.NOT_SENT
    else:
        try:
            message_id = send_email(recipient.email, message.subject, message.body)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in PERMANENT_SES_ERRORS:
                raise  # nothing was written: the redelivery tries again
            reason = exc.response["Error"].get("Message") or exc.response["Error"]["Code"]
            status, outcome = EMAIL_FAILED, Outcome.REJECTED
            metrics.add_metric(name="NotificationsRejected", unit="Count", value=1)
            logger.warning("SES rejected the notification for good", extra={
                "notification_id": notification_id, "event_type": event.event_type, "reason": reason})
        else:
            status, outcome = EMAIL_SENT, Outcome.SENT
            metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
            logger.info("notification sent", extra={"notification_id": notification_id,
                                                    "event_type": event.event_type})
    if existing is not None:  # stored PENDING before notifications were written once: mark it
        _mark(existing, status, message_id=message_id, failure_reason=reason)
    else:
        _store(event, recipient, message, notification_id, status, message_id, reason)
    return outcome


_ALREADY = {EMAIL_SENT: Outcome.ALREADY_SENT, EMAIL_FAILED: Outcome.ALREADY_FAILED, EMAIL_NOT_SENT: Outcome.NOT_SENT}


def _is_verified_address_of(recipient: Recipient) -> bool:
    """True if the event's address is the one Cognito holds verified for the user, now: an event
    names an address, but only the user pool says whose it is (a user cannot change it: the app
    client may not write `email`, infra/template.yaml)."""
    verified = cognito.verified_email(recipient.user_id)
    return verified is not None and verified.lower() == recipient.email.lower()


def _stored(notification_id: str) -> Notification | None:
    try:
        return Notification.get(f"NOTIFICATION#{notification_id}", NOTIFICATION_SORT_KEY, consistent_read=True)
    except Notification.DoesNotExist:
        return None


def _store(event: Event[CustomerData], recipient: Recipient, message: templates.Message, notification_id: str,
           status: str, message_id: str | None, failure_reason: str | None) -> None:
    """The notification's one write, with its email's outcome, and its NotificationStored event."""
    created_at = now_iso()
    notification = Notification(
        pk=f"NOTIFICATION#{notification_id}", sk=NOTIFICATION_SORT_KEY, notification_id=notification_id,
        user_id=recipient.user_id, event_id=event.event_id, type=event.event_type, subject=message.subject,
        body=message.body, created_at=created_at, email_status=status, email_message_id=message_id,
        sent_at=created_at if message_id else None,
        failure_reason=failure_reason[:1000] if failure_reason else None,
        gsi1pk=_user_partition(recipient.user_id), gsi1sk=f"NOTIFICATION#{created_at}#{notification_id}",
        expires_at=utc_now() + NOTIFICATION_RETENTION)
    stored = NotificationStored(notification_id=notification_id, user_id=recipient.user_id,
                                notification=NotificationView(**notification_view(notification)))
    try:
        with transaction() as tx:  # the live-update pusher learns of it from its event (docs/realtime.md)
            tx.save(notification, condition=Notification.pk.does_not_exist())
            outbox.record(tx, stored, correlation_id=event.correlation_id)
    except TransactionFailed as exc:
        if not condition_failed(exc):
            raise
        logger.warning("notification was stored by a concurrent delivery (its email may have gone twice)",
                       extra={"notification_id": notification_id, "status": status})


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
    """PENDING -> SENT (with SES's MessageId), FAILED (with SES's reason) or NOT_SENT, conditionally: only
    for notifications stored PENDING by the version before one write per notification."""
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


def notification_view(notification: Notification) -> dict[str, str]:
    return {"notification_id": notification.notification_id, "type": notification.type,
            "subject": notification.subject, "body": notification.body, "created_at": notification.created_at}
