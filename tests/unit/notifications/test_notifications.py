"""Notifications: the queue consumer (Lambda-shaped SQS events) and GET /notifications, on the stack."""

import hashlib
import json
import uuid

import boto3
import pytest
from moto.ses.models import ses_backends

from chalicelib.events.envelope import InvalidEvent
from chalicelib.notifications import service
from chalicelib.notifications.handlers import NOTIFY
from chalicelib.notifications.models import EMAIL_FAILED, EMAIL_PENDING, EMAIL_SENT, Notification
from chalicelib.notifications.templates import format_amount
from chalicelib.settings import DEFAULT_SENDER_EMAIL, resource_name
from devstack.lambda_events import ACCOUNT_ID, records_event, sqs_record
from tests.events import draft, received
from tests.users import make_user

pytestmark = pytest.mark.usefixtures("stack")

REGION = "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{resource_name('notifications')}"


@pytest.fixture
def user():
    return make_user()


# --- building events and delivering them ---------------------------------------------------------

def order_event(event_type, user, order_id=None, **data):
    """An envelope of `event_type` for `user`, with the fields its type carries (docs/events.md)."""
    order_id = order_id or uuid.uuid4().hex
    payment_id = uuid.uuid4().hex
    by_type = {
        "OrderPlaced": {"items": [{"product_id": "p-1", "sku": "SKU-1", "name": "Mug", "unit_price_cents": 617,
                                   "quantity": 2}], "total_cents": 1234, "currency": "USD",
                        "payment_token": "tok_visa"},
        "PaymentSucceeded": {"payment_id": payment_id, "amount_cents": 1234, "currency": "USD"},
        "PaymentFailed": {"payment_id": payment_id, "amount_cents": 1234, "currency": "USD", "reason": "declined"},
        "OrderCancelled": {"reason": "cancelled_by_customer", "was_paid": True, "items": [], "total_cents": 1234,
                           "currency": "USD"},
        "PaymentRefunded": {"payment_id": payment_id, "amount_cents": 1234, "currency": "USD"},
    }
    payload = {"order_id": order_id, "user_id": user.user_id, "email": user.email,
               **by_type.get(event_type, {}), **data}
    return draft(event_type, payload)


def sqs_message(body):
    """What ReceiveMessage returns for one message; each has its own MessageId, as in SQS."""
    return {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": body,
            "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}}


def deliver(client, *bodies):
    """Invoke the queue handler with one batch; return (messageIds in order, failed messageIds)."""
    records = [sqs_record(sqs_message(b if isinstance(b, str) else b.to_json()), QUEUE_ARN, REGION)
               for b in bodies]
    response = client.lambda_.invoke("send_notifications", records_event(records))
    failed = [f["itemIdentifier"] for f in response.payload["batchItemFailures"]]
    return [r["messageId"] for r in records], failed


def emails_to(address):
    """(subject, body) of every email SES accepted for `address` in this process's moto."""
    sent = ses_backends[ACCOUNT_ID][REGION].sent_messages
    return [(m.subject, m.body) for m in sent
            if address in m.destinations.get("ToAddresses", []) and m.source == DEFAULT_SENDER_EMAIL]


def list_page(client, user, **query):
    path = "/notifications" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return client.http.get(path, headers=user.headers)


def stored(event):
    return Notification.get(f"NOTIFICATION#{service.notification_id_for(event.event_id)}", "NOTIFICATION",
                            consistent_read=True)


# --- the consumer --------------------------------------------------------------------------------

EXPECTED_SUBJECTS = {
    "PaymentSucceeded": "Order {order_id} is confirmed",
    "OrderCancelled": "Order {order_id} is cancelled",
    "PaymentRefunded": "Refund for order {order_id}",
    "OrderShipped": "Order {order_id} has shipped",
}


@pytest.mark.parametrize("event_type", ["OrderPlaced", "PaymentFailed"])
def test_no_email_before_payment_and_none_for_a_declined_payment_but_its_cancellation(client, user, event_type):
    """One email per milestone: an order is confirmed when it is paid, and a declined payment's
    OrderCancelled says why; OrderPlaced and PaymentFailed notify nobody. The queue is not subscribed to
    them (the subscription table), and one that arrived anyway is refused, never applied."""
    from chalicelib.events.subscriptions import NOTIFICATIONS

    assert event_type not in NOTIFICATIONS.event_types
    event, paid = order_event(event_type, user), order_event("PaymentSucceeded", user)
    ids, failed = deliver(client, event, paid)
    assert failed == ids[:1]
    with pytest.raises(Notification.DoesNotExist):
        stored(event)
    assert [subject for subject, _ in emails_to(user.email)] == [f"Order {paid.data['order_id']} is confirmed"]


def test_each_event_type_stores_one_notification_and_emails_it(client, user):
    events = [order_event(event_type, user) for event_type in EXPECTED_SUBJECTS]
    _, failed = deliver(client, *events)
    assert failed == []

    page = list_page(client, user, limit=100)
    assert page.status_code == 200 and page.json_body["next_cursor"] is None
    by_type = {item["type"]: item for item in page.json_body["items"]}
    assert len(page.json_body["items"]) == len(by_type) == len(EXPECTED_SUBJECTS)
    emails = emails_to(user.email)
    assert sorted(emails) == sorted((item["subject"], item["body"]) for item in by_type.values())
    for event in events:
        item = by_type[event.event_type]
        assert item["subject"] == EXPECTED_SUBJECTS[event.event_type].format(order_id=event.data["order_id"])
        assert item["notification_id"] == service.notification_id_for(event.event_id)
        assert item["created_at"].endswith("Z") and event.data["order_id"] in item["body"]
        assert set(item) == {"notification_id", "type", "subject", "body", "created_at"}
        assert stored(event).email_status == EMAIL_SENT and stored(event).email_message_id
    for event_type in ("PaymentSucceeded", "PaymentRefunded"):
        assert "12.34 USD" in by_type[event_type]["body"]
    assert "as you asked" in by_type["OrderCancelled"]["body"]
    assert "12.34 USD will be refunded" in by_type["OrderCancelled"]["body"]


@pytest.mark.parametrize(("minor_units", "currency", "text"), [
    (1234, "USD", "12.34 USD"), (5, "eur", "0.05 EUR"), (123456789, "GBP", "1,234,567.89 GBP"),
    (1500, "JPY", "1,500 JPY"), (1234, "KWD", "1.234 KWD"), (0, "USD", "0.00 USD"),
])
def test_amounts_are_formatted_exactly_from_minor_units(minor_units, currency, text):
    assert format_amount(minor_units, currency) == text


def test_redelivery_stores_one_notification_and_sends_one_email(client, user, monkeypatch):
    counted = []
    monkeypatch.setattr(service.metrics, "add_metric", lambda **metric: counted.append(metric))
    event = order_event("PaymentSucceeded", user)
    assert deliver(client, event, event)[1] == []  # twice in one batch, each its own messageId
    assert deliver(client, event)[1] == []  # and once more later
    assert len(list_page(client, user).json_body["items"]) == 1
    assert len(emails_to(user.email)) == 1
    assert counted == [{"name": "NotificationsSent", "unit": "Count", "value": 1}]


def test_a_notification_whose_email_failed_is_written_and_sent_on_redelivery(client, user, monkeypatch):
    event, bystander = order_event("OrderShipped", user), order_event("PaymentSucceeded", user)
    real_send, attempts = service.send_email, []

    def first_send_fails(*args, **kwargs):
        attempts.append(args)
        if len(attempts) == 1:
            raise ConnectionError("SES unreachable")
        return real_send(*args, **kwargs)

    monkeypatch.setattr(service, "send_email", first_send_fails)
    (message_id, _), failed = deliver(client, event, bystander)
    assert failed == [message_id]  # only the message whose email failed goes back to the queue
    with pytest.raises(Notification.DoesNotExist):  # nothing written before SES accepted the email
        stored(event)
    assert stored(bystander).email_status == EMAIL_SENT
    assert [subject for subject, _ in emails_to(user.email)] == [f"Order {bystander.data['order_id']} is confirmed"]

    assert deliver(client, event)[1] == []  # the redelivery sends it and writes it
    assert deliver(client, event)[1] == []  # and the next one finds it SENT
    assert stored(event).email_status == EMAIL_SENT
    assert len(emails_to(user.email)) == 2 and len(attempts) == 3
    assert len(list_page(client, user).json_body["items"]) == 2


def test_a_message_ses_rejects_is_marked_failed_and_not_retried_into_the_dead_letter_queue(
        client, user, monkeypatch):
    """MessageRejected is SES's final word (here, as on AWS, for a sender whose identity is no longer
    verified; the function's policy still grants it): retrying five times would only move it to the DLQ."""
    event, other = order_event("PaymentSucceeded", user), order_event("OrderShipped", user)
    ses = boto3.client("ses", region_name=REGION)
    ses.delete_identity(Identity=DEFAULT_SENDER_EMAIL)
    try:
        ids, failed = deliver(client, event)
    finally:
        ses.verify_email_identity(EmailAddress=DEFAULT_SENDER_EMAIL)  # as the stack's provisioning left it
    assert failed == []  # handled: not returned to the queue
    notification = stored(event)
    assert notification.email_status == EMAIL_FAILED and notification.sent_at is None
    assert "not verified" in notification.failure_reason
    assert emails_to(user.email) == []
    assert service.notify(event.parsed()) is service.Outcome.ALREADY_FAILED  # a redelivery sends nothing either

    assert deliver(client, other)[1] == [] and stored(other).email_status == EMAIL_SENT
    assert stored(event).email_status == EMAIL_FAILED  # a failed notification is never sent later
    assert len(list_page(client, user).json_body["items"]) == 2


def test_a_transient_ses_error_is_retried(client, user, monkeypatch):
    from botocore.exceptions import ClientError

    event, bystander = order_event("PaymentSucceeded", user), order_event("OrderShipped", user)
    real_send = service.send_email

    def throttled_once(to_address, subject, body):
        if subject.endswith("is confirmed"):
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}},
                              "SendEmail")
        return real_send(to_address, subject, body)

    monkeypatch.setattr(service, "send_email", throttled_once)
    ids, failed = deliver(client, event, bystander)
    assert failed == [ids[0]]  # back to the queue, retried
    with pytest.raises(Notification.DoesNotExist):
        stored(event)


def test_a_bad_message_fails_alone_and_the_rest_of_the_batch_is_processed_once(client, user):
    good, also_good = order_event("PaymentSucceeded", user), order_event("OrderShipped", user)
    no_email = order_event("PaymentSucceeded", user)
    no_email.data.pop("email")
    no_user = order_event("OrderShipped", user, user_id="")
    unknown = order_event("ProductImported", user)  # a type the queue does not take: refused too
    ids, failed = deliver(client, good, no_email, "not an envelope", no_user, unknown, also_good)
    assert failed == [ids[1], ids[2], ids[3], ids[4]]
    for malformed in (no_email, no_user, unknown):
        with pytest.raises(Notification.DoesNotExist):
            stored(malformed)
    assert {item["type"] for item in list_page(client, user).json_body["items"]} == {"PaymentSucceeded", "OrderShipped"}
    assert len(emails_to(user.email)) == 2

    assert deliver(client, good, also_good)[1] == []  # the retry SQS makes of the whole batch's survivors
    assert len(list_page(client, user).json_body["items"]) == 2 and len(emails_to(user.email)) == 2


def test_events_it_cannot_address_never_reach_it():
    """An address that is not one, or ids not of this app, are refused when the event is parsed."""
    for bad in ({"email": "not-an-address"}, {"order_id": "o-1"}, {"user_id": "u-1"}):
        with pytest.raises(InvalidEvent, match="email" if "email" in bad else "regex"):
            draft("OrderShipped", bad).parsed()
    with pytest.raises(InvalidEvent, match="does not take"):
        NOTIFY(received("ProductCreated"))


# --- GET /notifications ----------------------------------------------------------------------------

def walk(client, user, limit):
    """Every page of the user's list; each page checked for size."""
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = list_page(client, user, **query)
        assert response.status_code == 200, response.json_body
        pages.append(response.json_body["items"])
        assert len(pages[-1]) <= limit
        cursor = response.json_body["next_cursor"]
        if cursor is None:
            return pages


def test_list_is_the_callers_own_newest_first_across_pages(client, user):
    other = make_user()
    mine = [order_event("PaymentSucceeded", user) for _ in range(5)]
    for event in mine:  # one delivery each: each notification is stored after the previous one
        deliver(client, event)
    deliver(client, order_event("PaymentSucceeded", other), order_event("OrderShipped", other))

    pages = walk(client, user, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    items = [item for page in pages for item in page]
    assert sorted(i["notification_id"] for i in items) == sorted(service.notification_id_for(e.event_id) for e in mine)
    # newest first; two stored within the same millisecond are ordered by id (the index's sort key)
    assert items == sorted(items, key=lambda i: (i["created_at"], i["notification_id"]), reverse=True)
    assert items[0]["created_at"] > items[-1]["created_at"]
    assert len(list_page(client, other).json_body["items"]) == 2

    default_page = list_page(client, user).json_body
    assert len(default_page["items"]) == 5 and default_page["next_cursor"] is None


def test_bad_limits_and_cursors_are_400_and_no_token_is_401(client, user):
    other = make_user()
    for _ in range(2):
        deliver(client, order_event("OrderShipped", other))
    others_cursor = list_page(client, other, limit=1).json_body["next_cursor"]
    assert others_cursor
    assert list_page(client, other, limit=1, cursor=others_cursor).status_code == 200

    for query in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "not-a-cursor"},
                  {"cursor": "eyJzIjoibm90aWZpY2F0aW9ucyJ9"}, {"cursor": others_cursor}, {"page": 2}):
        response = list_page(client, user, **query)
        assert response.status_code == 400, query
        assert response.json_body["Code"] == "BadRequestError"

    assert client.http.get("/notifications").status_code == 401
    bad_token = client.http.get("/notifications", headers={"Authorization": "Bearer not.a.token"})
    assert bad_token.status_code == 401


def test_openapi_describes_the_list(client):
    document = json.loads(client.http.get("/openapi.json").body)
    operation = document["paths"]["/notifications"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"limit", "cursor"}
    assert operation["tags"] == ["notifications"]
    assert {"200", "400", "401"} <= set(operation["responses"])
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["required"] == ["items", "next_cursor"]
    assert page["properties"]["items"]["items"]["required"] == [
        "notification_id", "type", "subject", "body", "created_at"]


def test_sending_from_an_unverified_identity_is_rejected_as_in_the_ses_sandbox(monkeypatch):
    """SES refuses a sender that is not a verified identity (MessageRejected), in the sandbox and out of
    it; the local stack verifies exactly the template's sender identity, so only that one sends."""
    from botocore.exceptions import ClientError

    assert service.send_email("someone@example.com", "Hello", "Body")  # the stage's verified sender
    monkeypatch.setenv("STOREFRONT_SENDER_EMAIL", "noreply@unverified.example")
    with pytest.raises(ClientError) as error:
        service.send_email("someone@example.com", "Hello", "Body")
    assert error.value.response["Error"]["Code"] == "MessageRejected"
    assert "not verified" in error.value.response["Error"]["Message"]


# --- issue 14, item 8: emails go only to the user's verified address --------------------------------

def _cognito():
    import boto3

    return boto3.client("cognito-idp", region_name=REGION)


def test_an_unverified_address_gets_no_email_but_the_notification_is_kept(client, user):
    from chalicelib.notifications.models import EMAIL_NOT_SENT
    from chalicelib.settings import get_settings

    _cognito().admin_update_user_attributes(UserPoolId=get_settings().user_pool_id, Username=user.user_id,
                                            UserAttributes=[{"Name": "email_verified", "Value": "false"}])
    event = order_event("PaymentSucceeded", user)
    assert deliver(client, event)[1] == []
    assert emails_to(user.email) == []
    assert stored(event).email_status == EMAIL_NOT_SENT
    assert deliver(client, event)[1] == [] and emails_to(user.email) == []  # a redelivery changes nothing
    assert list_page(client, user).json_body["items"][0]["notification_id"] == stored(event).notification_id


def test_an_email_changed_behind_the_apps_back_or_named_by_an_event_gets_nothing(client, user):
    """The attack: the user changed their Cognito email with their access token (moto allows it) and
    their next order's emails went there; or an event names any address it likes."""
    from chalicelib.settings import get_settings

    evil = f"evil-{uuid.uuid4().hex[:6]}@attacker.example"
    forged = order_event("PaymentSucceeded", user, email=evil)
    assert deliver(client, forged)[1] == []
    assert emails_to(evil) == []
    _cognito().admin_update_user_attributes(  # with email_verified reset, as Cognito does (moto does not)
        UserPoolId=get_settings().user_pool_id, Username=user.user_id,
        UserAttributes=[{"Name": "email", "Value": evil}, {"Name": "email_verified", "Value": "false"}])
    for event in (order_event("PaymentSucceeded", user), order_event("PaymentSucceeded", user, email=evil)):
        assert deliver(client, event)[1] == []
    assert emails_to(evil) == [] and emails_to(user.email) == []


def test_a_deleted_user_gets_no_email(client):
    from chalicelib.settings import get_settings

    gone = make_user()
    _cognito().admin_delete_user(UserPoolId=get_settings().user_pool_id, Username=gone.email)
    assert deliver(client, order_event("PaymentSucceeded", gone))[1] == []
    assert emails_to(gone.email) == []


def test_an_order_id_holding_a_sentence_is_never_mailed(client, user):
    """Issue 14, item 6: a forged event's order_id, a phishing sentence, was mailed in the subject."""
    phishing = "Your account is locked - confirm your card at https://evil.example/login"
    good = order_event("OrderShipped", user)
    forged = [order_event("OrderShipped", user, order_id=phishing),
              order_event("OrderShipped", user, user_id="not-a-user")]
    ids, failed = deliver(client, forged[0], good, forged[1])
    assert failed == [ids[0], ids[2]]  # they fail on every receive: dead-lettered, never applied
    for event in forged:
        with pytest.raises(Notification.DoesNotExist):
            stored(event)
    assert len(emails_to(user.email)) == 1 and phishing not in emails_to(user.email)[0][0]


def test_a_notification_is_one_write_with_its_event(client, user, monkeypatch):
    """One transaction (the notification with its email's outcome, and NotificationStored), no later mark."""
    from pynamodb.connection.base import Connection

    writes = []
    for operation in ("put_item", "update_item", "transact_write_items"):
        real = getattr(Connection, operation)
        monkeypatch.setattr(Connection, operation, lambda self, *a, _real=real, _op=operation, **kw: (
            writes.append(_op), _real(self, *a, **kw))[1])
    event = order_event("OrderShipped", user)
    assert deliver(client, event)[1] == []
    assert writes == ["transact_write_items"]
    assert stored(event).email_status == EMAIL_SENT and stored(event).sent_at and stored(event).email_message_id
    assert deliver(client, event)[1] == [] and writes == ["transact_write_items"]  # a redelivery writes nothing


def test_a_notification_left_pending_by_the_two_write_version_is_sent_and_marked(client, user):
    event = order_event("OrderShipped", user)
    notification_id = service.notification_id_for(event.event_id)
    Notification(pk=f"NOTIFICATION#{notification_id}", sk="NOTIFICATION", notification_id=notification_id,
                 user_id=user.user_id, event_id=event.event_id, type="OrderShipped", subject="Order has shipped",
                 body="On its way.", created_at="2026-12-01T10:00:00.000Z", email_status=EMAIL_PENDING,
                 gsi1pk=f"USER#{user.user_id}", gsi1sk=f"NOTIFICATION#2026-12-01T10:00:00.000Z#{notification_id}",
                 expires_at=service.utc_now() + service.NOTIFICATION_RETENTION).save()
    assert deliver(client, event)[1] == []
    assert stored(event).email_status == EMAIL_SENT
    assert [subject for subject, _ in emails_to(user.email)] == [f"Order {event.data['order_id']} has shipped"]
