"""Live updates in-process: the WebSocket handlers through chalice.test.Client with API Gateway's
event shapes (Chalice has no WebSocket event generators), the pusher's rules with a recording sender,
and the events it relies on (NotificationStored, ImportFinished)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from urllib.error import URLError
from urllib.parse import quote

import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from chalicelib.accounts import tokens
from chalicelib.events.envelope import InvalidEvent, parse
from chalicelib.events.models import OutboxItem
from chalicelib.imports import lease as import_lease
from chalicelib.imports import runner as import_runner
from chalicelib.imports import service as imports
from chalicelib.notifications import service as notifications
from chalicelib.orders import service as orders
from chalicelib.orders.models import Order
from chalicelib.orders.statuses import PAID
from chalicelib.realtime import connections, pusher
from chalicelib.realtime.models import Connection, PushMark
from devstack import websocket_events
from devstack.lambda_events import ACCOUNT_ID, records_event, sqs_record
from tests.events import Draft, draft, received
from tests.unit.orders.test_orders import new_product, order_body, post_order
from tests.users import make_user

pytestmark = pytest.mark.usefixtures("stack")
ROOT = Path(__file__).resolve().parents[3]
API_ID, STAGE, REGION = os.environ["STOREFRONT_WEBSOCKET_API_ID"], "api", "us-east-1"


def push(event, send) -> int:
    """What the realtime queue's handler does with one event: the frames sent."""
    return pusher.dispatch(send)(event)


def connect_event(token: str | None, connection_id: str | None = None) -> dict:
    path = "/" if token is None else f"/?token={token}"
    return websocket_events.connect_event(connection_id or websocket_events.new_connection_id(), path,
                                          {"Host": "x", "User-Agent": "pytest"}, api_id=API_ID, stage=STAGE,
                                          region=REGION, connected_at_ms=int(time.time() * 1000),
                                          source_ip="127.0.0.1")


def message_event(connection_id: str, body: str | bytes) -> dict:
    return websocket_events.message_event(connection_id, body, api_id=API_ID, stage=STAGE, region=REGION,
                                          connected_at_ms=0, source_ip="127.0.0.1", user_agent="pytest")


def stored_connection(connection_id: str) -> Connection | None:
    try:
        return Connection.get(f"CONNECTION#{connection_id}", "CONNECTION", consistent_read=True)
    except Connection.DoesNotExist:
        return None


def posted_to(connection_id: str) -> bytes:
    """What moto's management API received for the connection (it accepts any id, and keys it as
    found in the path: percent-encoded)."""
    return apigatewaymanagementapi_backends[ACCOUNT_ID][REGION].connections[quote(connection_id, safe="")].data


def connect(client, user) -> str:
    event = connect_event(user.id_token)
    assert client.lambda_.invoke("websocket_connect", event).payload["statusCode"] == 200
    return event["requestContext"]["connectionId"]


# --- $connect, $default, $disconnect -------------------------------------------------------------

def test_a_valid_token_opens_a_connection_found_by_user_and_admins_are_marked(client, member, admin):
    mine, theirs = connect(client, member), connect(client, admin)
    item, admin_item = stored_connection(mine), stored_connection(theirs)
    assert (item.user_id, item.is_admin, item.gsi2pk) == (member.user_id, False, None)
    assert (admin_item.user_id, admin_item.is_admin, admin_item.gsi2pk) == (admin.user_id, True, "ADMINS")
    lifetime = item.expires_at.timestamp() - time.time()
    assert 2 * 3600 - 60 < lifetime <= 2 * 3600
    found = connections.recipients(member.user_id, admins=True)
    assert {r.connection_id for r in found} >= {mine, theirs}
    assert mine not in {r.connection_id for r in connections.recipients(None, admins=True)}


def test_the_documented_aws_connect_event_shape_is_read(client, member):
    """A $connect event as API Gateway documents it, written out by hand (not by the gateway's builder)."""
    connection_id = "L0SM9cOFvHcCIhw="
    event = {
        "headers": {"Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com", "Sec-WebSocket-Version": "13"},
        "multiValueHeaders": {"Host": [f"{API_ID}.execute-api.{REGION}.amazonaws.com"]},
        "queryStringParameters": {"token": member.id_token},
        "multiValueQueryStringParameters": {"token": [member.id_token]},
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "extendedRequestId": "ABCD1234=",
            "requestTime": "09/Feb/2024:18:11:43 +0000", "messageDirection": "IN", "stage": STAGE,
            "connectedAt": 1707502303419, "requestTimeEpoch": 1707502303420,
            "identity": {"sourceIp": "192.0.2.1"}, "requestId": "ABCD1234=",
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com", "connectionId": connection_id,
            "apiId": API_ID},
        "isBase64Encoded": False}
    assert client.lambda_.invoke("websocket_connect", event).payload["statusCode"] == 200
    assert stored_connection(connection_id).user_id == member.user_id


@pytest.mark.parametrize("token", [None, "", "abc", "a.b.c", "x" * 10000])
def test_a_missing_or_bad_token_refuses_the_handshake_and_stores_nothing(client, token):
    event = connect_event(token)
    answer = client.lambda_.invoke("websocket_connect", event).payload
    assert answer["statusCode"] == 401
    assert "message" in json.loads(answer["body"])
    assert stored_connection(event["requestContext"]["connectionId"]) is None


def test_a_forged_signature_is_refused(client, member):
    header, payload, signature = member.id_token.split(".")
    assert client.lambda_.invoke("websocket_connect", connect_event(
        f"{header}.{payload}.{signature[::-1]}")).payload["statusCode"] == 401


def test_unreachable_signing_keys_refuse_with_503(client, member, monkeypatch):
    def unreachable(url):
        raise URLError("connection refused")

    monkeypatch.setattr(tokens, "fetch_jwks", unreachable)
    tokens.keys.clear()
    try:
        assert client.lambda_.invoke("websocket_connect", connect_event(member.id_token)).payload["statusCode"] == 503
    finally:
        monkeypatch.undo()
        tokens.keys.clear()


def test_ping_is_answered_with_pong_through_the_management_api(client, member):
    connection_id = connect(client, member)
    client.lambda_.invoke("websocket_message", message_event(connection_id, '{"action": "ping"}'))
    assert json.loads(posted_to(connection_id)) == {"type": "pong"}


@pytest.mark.parametrize("body", ["not json", "[1]", '{"action": "pong"}', '{"action": 1}', "[" * 3000 + "]" * 3000,
                                  json.dumps({"action": "ping", "pad": "x" * 40000}), "9" * 5000, b"\x00\xff"])
def test_other_messages_get_an_error_frame(client, member, body):
    connection_id = connect(client, member)
    client.lambda_.invoke("websocket_message", message_event(connection_id, body))
    frame = json.loads(posted_to(connection_id))
    assert frame["type"] == "error" and frame["error"]["Code"] == "BadRequestError"


def test_disconnect_forgets_the_connection_and_is_idempotent(client, member):
    connection_id = connect(client, member)
    for _ in range(2):
        disconnect = {"requestContext": {**message_event(connection_id, "")["requestContext"],
                                         "routeKey": "$disconnect", "eventType": "DISCONNECT"}}
        assert client.lambda_.invoke("websocket_disconnect", disconnect).payload["statusCode"] == 200
    assert stored_connection(connection_id) is None


# --- the pusher ----------------------------------------------------------------------------------

class Recorder:
    """A sender: records frames, answers GoneException for `gone` ids and fails for `failing` ones."""

    def __init__(self, gone=(), failing=()):
        self.frames: dict[str, list[dict]] = {}
        self.gone, self.failing = set(gone), set(failing)

    def __call__(self, connection_id: str, text: str) -> None:
        if connection_id in self.gone:
            raise pusher.ConnectionGone(connection_id)
        if connection_id in self.failing:
            raise RuntimeError("throttled")
        self.frames.setdefault(connection_id, []).append(json.loads(text))


def paid_order(client, user) -> dict:
    order = post_order(client, user, order_body((new_product(), 1))).json_body
    record = Order.get(f"ORDER#{order['order_id']}", "ORDER")
    record.update(actions=[Order.status.set(PAID)])
    return orders.get_order(order["order_id"], user.user_id, False)


def test_order_frames_go_to_the_owner_and_admins_only_and_carry_the_order_as_get_returns_it(client):
    owner, other, admin = make_user(), make_user(), make_user(admin=True)
    owner_c, other_c, admin_c = connect(client, owner), connect(client, other), connect(client, admin)
    order = paid_order(client, owner)
    send = Recorder()
    sent = push(received("PaymentSucceeded", {"order_id": order["order_id"]}), send)
    assert send.frames[owner_c] == [{"type": "order", "order": order}]
    assert send.frames[admin_c] == [{"type": "order", "order": order}]
    assert other_c not in send.frames and sent == len(send.frames)


def test_a_payment_result_waits_for_the_orders_consumer_then_is_retried(client, member, monkeypatch):
    connect(client, member)
    pending = post_order(client, member, order_body((new_product(), 1))).json_body
    monkeypatch.setattr(pusher, "ORDER_SETTLE_SECONDS", 0.2)
    with pytest.raises(pusher.OrderNotUpdatedYet):
        push(received("PaymentSucceeded", {"order_id": pending["order_id"]}), Recorder())
    assert push(received("OrderPlaced", {"order_id": pending["order_id"]}), Recorder()) >= 1


def test_a_gone_connection_is_deleted_and_a_failing_one_counted_without_failing_the_event(client):
    owner = make_user()
    gone, failing, fine = connect(client, owner), connect(client, owner), connect(client, owner)
    order = paid_order(client, owner)
    send = Recorder(gone=[gone], failing=[failing])
    push(received("OrderShipped", {"order_id": order["order_id"]}), send)  # raises nothing
    assert stored_connection(gone) is None and gone not in send.frames
    assert stored_connection(failing) is not None and fine in send.frames


def test_unknown_or_malformed_events_push_nothing(client):
    for event in (received("OrderShipped", order_id=uuid.uuid4().hex), received("ImportFinished", import_id="nope")):
        assert push(event, Recorder()) == 0  # no such order or import
    for malformed in (Draft("OrderShipped", {}), draft("OrderShipped", order_id="no-such-order"),
                      draft("NotificationStored", user_id=3)):
        with pytest.raises(InvalidEvent):
            push(malformed.parsed(), Recorder())
    with pytest.raises(InvalidEvent, match="does not take"):  # the realtime queue is not subscribed to it
        push(received("ProductCreated"), Recorder())


def test_a_stored_notification_is_pushed_to_its_user_only(client):
    owner, admin = make_user(), make_user(admin=True)
    owner_c, admin_c = connect(client, owner), connect(client, admin)
    paid = received("PaymentSucceeded", {"order_id": uuid.uuid4().hex, "user_id": owner.user_id,
                                         "email": owner.email, "payment_id": uuid.uuid4().hex, "amount_cents": 100,
                                         "currency": "USD"})
    notifications.notify(paid)
    notifications.notify(paid)  # a redelivery: no second NotificationStored
    stored_events = [json.loads(i.body) for i in OutboxItem.scan(OutboxItem.event_type == "NotificationStored")
                     if json.loads(i.body)["data"]["user_id"] == owner.user_id]
    assert len(stored_events) == 1
    send = Recorder()
    push(parse(json.dumps(stored_events[0])), send)
    (frame,) = send.frames[owner_c]
    listed = client.http.get("/notifications", headers=owner.headers).json_body["items"]
    assert frame == {"type": "notification", "notification": listed[0]}
    assert admin_c not in send.frames


def test_import_progress_frames_are_at_most_one_a_second_and_the_end_always_goes(client, monkeypatch):
    admin = make_user(admin=True)
    admin_c = connect(client, admin)
    start = imports.start_upload("live.csv")
    import_id = start["import_id"]
    progress = received("ProductImported", {"import_id": import_id})
    clock = [1000.0]

    real_monotonic, real_sleep = time.monotonic, time.sleep

    class Clock:  # the pusher's clock only (time.time itself stays real for everything else)
        time = staticmethod(lambda: clock[0])
        monotonic, sleep = staticmethod(real_monotonic), staticmethod(real_sleep)

    monkeypatch.setattr(pusher, "time", Clock)
    send = Recorder()
    push(progress, send)
    clock[0] += 0.5
    assert push(progress, send) == 0  # within the second: no frame to anyone
    clock[0] += 0.6
    push(progress, send)
    from chalicelib.imports.models import ImportRecord

    ImportRecord.get(f"IMPORT#{import_id}", "IMPORT").update(actions=[ImportRecord.status.set("COMPLETED")])
    push(received("ImportFinished", {"import_id": import_id}), send)  # the end: always
    assert [f["import"]["status"] for f in send.frames[admin_c]] == ["PENDING", "PENDING", "COMPLETED"]
    assert PushMark.get(f"IMPORT#{import_id}", "PUSHED").pushed_at == 1001.1


def test_an_import_ends_with_import_finished_completed_or_failed(client):
    import boto3

    from chalicelib.settings import resource_name

    s3 = boto3.client("s3", region_name=REGION)
    for body, status in ((b"sku,name,description,price_cents,currency,category,stock\nF-1,A,,100,,,1\n", "COMPLETED"),
                         (b"", "FAILED")):
        key = f"imports/{uuid.uuid4().hex}/f.csv"
        s3.put_object(Bucket=resource_name("uploads"), Key=key, Body=body)
        import_runner.import_object(key, None, import_lease.Budget.for_remaining(30))
        finished = [json.loads(i.body)["data"] for i in OutboxItem.scan(OutboxItem.event_type == "ImportFinished")
                    if json.loads(i.body)["data"]["import_id"] == imports.import_id_for_key(key)]
        assert finished == [{"import_id": imports.import_id_for_key(key), "key": key, "status": status}]


def test_the_pusher_handler_posts_through_app_websocket_api(client, member, monkeypatch):
    monkeypatch.setenv("STOREFRONT_WEBSOCKET_API_ID", API_ID)
    connection_id = connect(client, member)
    order = paid_order(client, member)
    event = client.events.generate_sqs_event(
        message_bodies=[received("OrderShipped", {"order_id": order["order_id"]}).to_json()],
        queue_name="storefront-local-realtime")
    assert client.lambda_.invoke("push_updates", event).payload == {"batchItemFailures": []}
    assert json.loads(posted_to(connection_id))["order"] == order


def test_the_pusher_configures_its_management_endpoint_itself_in_a_fresh_process():
    """On AWS the pusher is its own function: nothing else configures its `app.websocket_api`. In a
    fresh interpreter (no WebSocket event ever handled) one invocation must leave it pointing at the
    stage's API: the URL of the next post is captured before it would leave the process."""
    script = textwrap.dedent("""
        import json, os
        from botocore.awsrequest import AWSResponse
        from app import app
        urls = []
        class Empty:
            def stream(self, **_):
                return iter([b""])
        def capture(request, **_):
            urls.append(request.url)
            return AWSResponse(request.url, 200, {}, Empty())
        try:
            app.websocket_api.send("c1=", "{}")
            print("UNCONFIGURED SENT")
        except ValueError:
            print("unconfigured before the first invocation")
        app.websocket_api.session.events.register("before-send.apigatewaymanagementapi", capture)
        body = json.dumps({"event_id": "e1", "event_type": "ProductCreated", "occurred_at": "2026-01-01T00:00:00Z",
                           "version": 1, "correlation_id": "c", "data": {}})
        record = {"messageId": "m1", "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {},
                  "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "eu-west-1",
                  "eventSourceARN": "arn:aws:sqs:eu-west-1:1:storefront-prod-realtime"}
        try:  # a type the queue does not take: refused (the whole batch fails), after the configuration
            app.handler_map["push_updates"]({"Records": [record]}, None)
        except Exception as refused:
            print("refused", type(refused).__name__)
        app.websocket_api.send("c1=", "{}")
        print(urls[0])
    """)
    env = {"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_REGION": "eu-west-1", "STOREFRONT_STAGE": "prod", "STOREFRONT_WEBSOCKET_API_ID": "abc123",
           "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "unconfigured before the first invocation"
    assert lines[-1] == "https://abc123.execute-api.eu-west-1.amazonaws.com/api/@connections/c1%3D"


def test_a_malformed_message_fails_alone_and_the_rest_of_the_batch_is_pushed(client, member, monkeypatch):
    monkeypatch.setenv("STOREFRONT_WEBSOCKET_API_ID", API_ID)
    connection_id = connect(client, member)
    order = paid_order(client, member)
    bodies = ["not json", json.dumps({"event_type": "OrderShipped"}), "[" * 10000 + "]" * 10000,
              received("OrderShipped", {"order_id": order["order_id"]}).to_json()]
    records = [sqs_record({"MessageId": str(uuid.uuid4()), "ReceiptHandle": "r", "Body": body, "MD5OfBody": "",
                           "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"}},
                          f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:storefront-local-realtime", REGION) for body in bodies]
    answer = client.lambda_.invoke("push_updates", records_event(records)).payload
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [r["messageId"] for r in records[:3]]
    assert json.loads(posted_to(connection_id))["order"] == order
