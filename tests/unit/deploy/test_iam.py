"""Least privilege, checked against what the code does.

devstack/iam.py enforces each function's generated policy (deploy/policies.py) at call time in the
in-process tests and the dev stack; tests/iam_coverage.py fails a whole-suite run that leaves a grant
unused. This module drives every route and handler through a representative flow (redeliveries
included) and checks that nothing in it is denied, that a removed grant breaks the function's real
path with AWS's error, and that the generated documents and the event sources' grants are well formed.

Calls Lambda makes with the role (polling a queue or stream, failure destinations, logs, X-Ray) are
not code calls; they come from `policies.event_source_grants` and are checked separately.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from chalice.test import Client

from chalicelib import settings
from chalicelib.imports import runner as import_runner
from chalicelib.payments import provider
from deploy import policies
from deploy.post_deploy import ASYNC_FAILURES_QUEUE, Target
from devstack import iam
from devstack.lambda_events import records_event, sqs_record
from tests.aws import REGION
from tests.events import example
from tests.users import make_user

pytestmark = [pytest.mark.usefixtures("stack"), pytest.mark.xdist_group("iam")]

# Functions and routes whose flows are not written. The coverage test fails when a list is stale either way.
KNOWN_UNVERIFIED_FUNCTIONS: set[str] = set()
KNOWN_UNVERIFIED_ROUTES: set[tuple[str, str]] = set()


class Account:
    def __init__(self) -> None:
        self.id = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{REGION}:{self.id}:{resource}"


@pytest.fixture(scope="module")
def account() -> Account:
    return Account()


@pytest.fixture(scope="module")
def denials() -> list[str]:
    """Every denial the enforcer logs while this module runs."""
    enforcer = iam.enforcer()
    assert enforcer is not None, "the stack fixture enforces IAM"
    seen: list[str] = []
    original = enforcer.log
    enforcer.log = lambda line: (seen.append(line), original(line))[-1]
    yield seen
    enforcer.log = original


# --- the flows ---------------------------------------------------------------------------------

def outbox_events(order_id: str) -> list[dict]:
    from chalicelib.events.models import OutboxItem

    items = OutboxItem.scan(OutboxItem.body.contains(f'"order_id":"{order_id}"'))
    return sorted((json.loads(item.body) for item in items), key=lambda e: e["occurred_at"])


def event_of(order_id: str, event_type: str) -> dict:
    return next(e for e in outbox_events(order_id) if e["event_type"] == event_type)


def sqs_event(queue: str, envelope: dict, account: Account) -> dict:
    body = json.dumps(envelope)
    message = {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": body,
               "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
               "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))}}
    return records_event([sqs_record(message, account.arn("sqs", settings.resource_name(queue)), REGION)])


def stream_event(envelope: dict, stream_arn: str) -> dict:
    image = {"pk": {"S": f"EVENT#{envelope['event_id']}"}, "sk": {"S": "EVENT"},
             "event_type": {"S": envelope["event_type"]}, "body": {"S": json.dumps(envelope)}}
    return {"Records": [{"eventID": uuid.uuid4().hex, "eventName": "INSERT", "eventVersion": "1.1",
                         "eventSource": "aws:dynamodb", "awsRegion": REGION, "eventSourceARN": stream_arn,
                         "dynamodb": {"ApproximateCreationDateTime": time.time(),
                                      "Keys": {k: image[k] for k in ("pk", "sk")}, "NewImage": image,
                                      "SequenceNumber": "1", "SizeBytes": 100, "StreamViewType": "NEW_IMAGE"}}]}


@pytest.fixture(scope="module")
def exercised(denials, account, stack) -> set[str]:
    """Run every function through a representative flow, recording its AWS calls."""
    from app import app

    admin, shopper = make_user(admin=True), make_user()
    routes_called: set[tuple[str, str]] = set()
    functions_invoked: set[str] = {policies.API_HANDLER}
    with Client(app, stage_name="local") as client, pytest.MonkeyPatch.context() as mp:

        def call(method: str, route: str, path: str, user: Any = None, body: Any = None) -> Any:
            headers = dict(user.headers) if user else {"Content-Type": "application/json"}
            response = getattr(client.http, method.lower())(
                path, headers=headers, body=json.dumps(body) if body is not None else None)
            assert response.status_code < 500, (method, path, response.body)
            routes_called.add((method, route))
            return response

        def invoke(function: str, event: dict) -> Any:
            functions_invoked.add(function)
            payload = client.lambda_.invoke(function, event).payload
            assert not (isinstance(payload, dict) and payload.get("batchItemFailures")), (function, payload)
            return payload

        email = f"iam-{uuid.uuid4().hex[:8]}@example.com"
        call("GET", "/health", "/health")
        assert call("GET", "/health", "/health?deep=1").status_code == 200
        call("GET", "/openapi.json", "/openapi.json")
        call("POST", "/auth/signup", "/auth/signup", body={"email": email, "password": "Iam-Passw0rd!", "name": "I"})
        tokens = call("POST", "/auth/login", "/auth/login", body={"email": email, "password": "Iam-Passw0rd!"})
        call("POST", "/auth/refresh", "/auth/refresh", body={"refresh_token": tokens.json_body["refresh_token"]})
        call("POST", "/auth/confirm", "/auth/confirm", body={"email": email, "code": "123456"})
        call("GET", "/users/me", "/users/me", shopper)
        call("PATCH", "/users/me", "/users/me", shopper, {"name": "Renamed"})
        call("GET", "/users/{user_id}", f"/users/{shopper.user_id}", admin)
        sku = f"IAM-{uuid.uuid4().hex[:8]}"
        product = call("POST", "/products", "/products", admin,
                       {"sku": sku, "name": "Widget", "price_cents": 500, "stock": 50}).json_body
        gone = call("POST", "/products", "/products", admin,
                    {"sku": sku + "X", "name": "Gone", "price_cents": 500, "stock": 5}).json_body
        call("PATCH", "/products/{product_id}", f"/products/{product['product_id']}", admin, {"stock": 40})
        call("DELETE", "/products/{product_id}", f"/products/{gone['product_id']}", admin)
        call("GET", "/products", "/products")
        call("GET", "/products", "/products?q=iam&sort=price_asc")  # the search index (chalicelib/search)
        call("GET", "/products", "/products?q=iam")
        call("GET", "/categories", "/categories")
        call("POST", "/products/{product_id}/image", f"/products/{product['product_id']}/image", admin)
        call("GET", "/products/{product_id}/image", f"/products/{product['product_id']}/image", admin)
        new_import = call("POST", "/imports", "/imports", admin, {"filename": "catalog.csv"}).json_body
        call("GET", "/imports/{import_id}", f"/imports/{new_import['import_id']}", admin)
        call("GET", "/products/{product_id}", f"/products/{product['product_id']}")
        order_body = {"items": [{"product_id": product["product_id"], "quantity": 1}], "payment_token": "tok_visa"}
        paid = call("POST", "/orders", "/orders", shopper, order_body).json_body
        cancelled = call("POST", "/orders", "/orders", shopper, order_body).json_body
        unpaid = call("POST", "/orders", "/orders", shopper, order_body).json_body
        declined = call("POST", "/orders", "/orders", shopper,
                        {**order_body, "payment_token": "tok_declined"}).json_body
        call("GET", "/orders", "/orders", shopper)
        call("GET", "/users/{user_id}/orders", f"/users/{shopper.user_id}/orders", shopper)
        call("GET", "/orders/{order_id}", f"/orders/{paid['order_id']}", shopper)
        call("POST", "/orders/{order_id}/cancel", f"/orders/{cancelled['order_id']}/cancel", shopper)

        placed = event_of(paid["order_id"], "OrderPlaced")
        invoke("publish_outbox", stream_event(placed, stack[settings.OUTBOX_STREAM_ARN]))
        provider.api_key.cache_clear()  # as in a fresh container, whose first charge reads the API key
        invoke("handle_payment_messages", sqs_event("payments", placed, account))
        succeeded = sqs_event("orders", event_of(paid["order_id"], "PaymentSucceeded"), account)
        invoke("apply_payment_results", succeeded)
        invoke("apply_payment_results", succeeded)  # a redelivery: the duplicate path reads the inbox
        invoke("handle_payment_messages", sqs_event("payments", placed, account))  # a redelivered charge
        invoke("handle_payment_messages", sqs_event("payments", event_of(declined["order_id"], "OrderPlaced"), account))
        invoke("apply_payment_results", sqs_event("orders", event_of(declined["order_id"], "PaymentFailed"), account))
        invoke("handle_payment_messages", sqs_event("payments", event_of(cancelled["order_id"], "OrderCancelled"),
                                                    account))
        exercise_cancellation_racing_the_charge(call, invoke, shopper, order_body, account, mp)
        notification = sqs_event("notifications", event_of(paid["order_id"], "PaymentSucceeded"), account)
        invoke("send_notifications", notification)
        invoke("send_notifications", notification)  # a redelivery: the duplicate path
        mp.setenv(settings.ORDER_PAYMENT_TIMEOUT_MINUTES, "0")
        invoke("cancel_unpaid_orders", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        mp.delenv(settings.ORDER_PAYMENT_TIMEOUT_MINUTES)
        mp.setenv("OUTBOX_RELAY_AFTER_SECONDS", "0")  # no stream runs here: every outbox item is unpublished
        invoke("relay_outbox", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
        mp.delenv("OUTBOX_RELAY_AFTER_SECONDS")
        assert call("GET", "/orders/{order_id}", f"/orders/{unpaid['order_id']}",
                    shopper).json_body["status"] == "CANCELLED"

        call("GET", "/orders/{order_id}/payment", f"/orders/{paid['order_id']}/payment", shopper)
        call("GET", "/orders/{order_id}/events", f"/orders/{paid['order_id']}/events", shopper)
        call("GET", "/notifications", "/notifications", shopper)
        exercise_fulfilment(call, invoke, admin, shopper, paid, order_body, account, client)
        finished_import = exercise_uploads(call, invoke, client, admin, product["product_id"], mp)
        exercise_realtime(invoke, client, app, shopper, admin, paid["order_id"],
                          (new_import["import_id"], finished_import), account, mp)
        client.lambda_.invoke("jwt_authorizer", {"type": "TOKEN", "authorizationToken": shopper.headers[
            "Authorization"], "methodArn": "arn:aws:execute-api:us-east-1:1:api/api/GET/users/me"})
        functions_invoked.add("jwt_authorizer")

    missing_routes = {(m, p) for p, methods in app.routes.items() for m in methods} - routes_called
    assert missing_routes == KNOWN_UNVERIFIED_ROUTES, \
        f"routes the IAM flow does not exercise (add them above): {sorted(missing_routes)}"
    return functions_invoked


def exercise_cancellation_racing_the_charge(call: Any, invoke: Any, shopper: Any, order_body: dict, account: Account,
                                            mp: pytest.MonkeyPatch) -> None:
    """The order is cancelled while the payment handler charges it: the charge's conditional write is
    rejected, the consumer reads its inbox to tell a duplicate from a rejection, and refunds the charge."""
    from chalicelib.events.envelope import parse
    from chalicelib.payments import service as payments_service

    raced = call("POST", "/orders", "/orders", shopper, order_body).json_body
    call("POST", "/orders/{order_id}/cancel", f"/orders/{raced['order_id']}/cancel", shopper)
    cancelled = parse(json.dumps(event_of(raced["order_id"], "OrderCancelled")))
    charge = provider.SimulatedProvider.charge

    def charge_while_cancelled(self: Any, *args: Any) -> Any:
        payments_service.handle_order_cancelled(cancelled)  # the cancellation's delivery wins the race
        return charge(self, *args)

    mp.setattr(provider.SimulatedProvider, "charge", charge_while_cancelled)
    invoke("handle_payment_messages", sqs_event("payments", event_of(raced["order_id"], "OrderPlaced"), account))
    mp.setattr(provider.SimulatedProvider, "charge", charge)
    assert call("GET", "/orders/{order_id}/payment", f"/orders/{raced['order_id']}/payment",
                shopper).json_body["status"] == "REFUNDED"


def exercise_fulfilment(call: Any, invoke: Any, admin: Any, shopper: Any, paid: dict, order_body: dict,
                        account: Account, client: Client) -> None:
    """The paid order through its workflow's waits as the state machine sends them (the in-process
    emulator records executions without running them): packed by the warehouse, overdue, shipped,
    delivered through the signed webhook, the relay; a second order cancelled while PACKED."""
    from chalicelib.fulfilment import carrier
    from chalicelib.fulfilment import warehouse as warehouse_service

    order_id = paid["order_id"]
    warehouse_service._queue_url.cache_clear()
    invoke("pack_orders", sqs_event("warehouse", {"order_id": order_id, "task_token": "pack-1"}, account))
    invoke("pack_orders", sqs_event("warehouse", {"order_id": order_id, "task_token": "pack-1", "packed": True},
                                    account))
    wait = {"order_id": order_id, "step": "ship", "overdue": False, "task_token": "ship-1"}
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", wait, account))
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", {**wait, "overdue": True, "task_token": "ship-2"},
                                                account))
    overdue = event_of(order_id, "ShipmentOverdue")
    invoke("send_notifications", sqs_event("notifications", overdue, account))  # to every admin
    assert call("GET", "/admin/orders", "/admin/orders?status=PACKED", admin).status_code == 200
    assert call("GET", "/orders/{order_id}/fulfilment", f"/orders/{order_id}/fulfilment",
                shopper).json_body["status"] == "RUNNING"
    tracking = f"IAM{uuid.uuid4().hex[:10]}"
    assert call("POST", "/orders/{order_id}/ship", f"/orders/{order_id}/ship", admin,
                {"carrier": "Storefront Post", "tracking_number": tracking}).json_body["status"] == "SHIPPED"
    invoke("relay_fulfilment", sqs_event("fulfilment", event_of(order_id, "OrderShipped"), account))
    deliver = {"order_id": order_id, "step": "deliver", "overdue": False, "task_token": "deliver-1"}
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", deliver, account))
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", {**deliver, "overdue": True,
                                                                     "task_token": "deliver-2"}, account))
    secret = json.loads(boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=settings.carrier_secret_name())["SecretString"])["secret"]
    body = json.dumps({"tracking_number": tracking, "status": "DELIVERED", "occurred_at": "2026-12-01T10:00:00Z"})
    stamp = str(int(time.time()))
    carrier.forget_secrets()  # a fresh container reads the secret
    response = client.http.post("/carrier/events", body=body, headers={
        "Content-Type": "application/json", carrier.TIMESTAMP_HEADER: stamp,
        carrier.SIGNATURE_HEADER: carrier.sign(secret, stamp, body.encode())})
    assert response.status_code == 200 and response.json_body["status"] == "DELIVERED", response.body
    call("POST", "/carrier/events", "/carrier/events")  # unsigned: 401 before anything is read
    invoke("relay_fulfilment", sqs_event("fulfilment", event_of(order_id, "OrderDelivered"), account))
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", {**deliver, "overdue": True,
                                                                     "task_token": "deliver-3"}, account))  # completes

    packed = call("POST", "/orders", "/orders", shopper, order_body).json_body
    invoke("handle_payment_messages", sqs_event("payments", event_of(packed["order_id"], "OrderPlaced"), account))
    invoke("apply_payment_results", sqs_event("orders", event_of(packed["order_id"], "PaymentSucceeded"), account))
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", {**wait, "order_id": packed["order_id"]},
                                                account))
    assert call("POST", "/orders/{order_id}/cancel", f"/orders/{packed['order_id']}/cancel",
                shopper).json_body["status"] == "CANCELLED"  # stops the execution
    invoke("relay_fulfilment", sqs_event("fulfilment", event_of(packed["order_id"], "OrderCancelled"), account))
    invoke("handle_fulfilment_tasks", sqs_event("fulfilment-tasks", {**wait, "order_id": packed["order_id"],
                                                                     "overdue": True}, account))  # stops it too


def exercise_uploads(call: Any, invoke: Any, client: Client, admin: Any, product_id: str,
                     mp: pytest.MonkeyPatch) -> None:
    """A catalog file imported in two chunks (the second through the imports queue), an image
    accepted with its thumbnail and a non-image rejected, each dropped where the browser puts it."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = settings.resource_name("uploads")

    def s3_event(key: str) -> dict:
        head = s3.head_object(Bucket=bucket, Key=key)
        event = client.events.generate_s3_event(bucket=bucket, key=quote_plus(key, safe="/"))
        event["Records"][0]["s3"]["object"].update(eTag=head["ETag"].strip('"'), size=head["ContentLength"])
        return event

    upload = call("POST", "/imports", "/imports", admin, {"filename": "iam.csv"}).json_body
    rows = [f"IAMI-{uuid.uuid4().hex[:8]}-{i},Imported,,100,,,5" for i in range(5)] + ["broken,,,,,,"]
    s3.put_object(Bucket=bucket, Key=upload["key"],
                  Body=("sku,name,description,price_cents,currency,category,stock\n" + "\n".join(rows)).encode())
    mp.setenv("IMPORT_CHUNK_ROWS", "2")  # three chunks: the S3 handler's, then two through the queue
    import_runner._queue_url.cache_clear()  # each function resolves the queue in its own container
    assert invoke("import_uploaded_file", s3_event(upload["key"])) == "handed_on"
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.get_queue_url(QueueName=settings.resource_name("imports"))["QueueUrl"]
    while mine := [m for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                  VisibilityTimeout=0).get("Messages", [])
                   if json.loads(m["Body"]).get("key") == upload["key"]]:
        for message in mine:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        import_runner._queue_url.cache_clear()
        invoke("continue_import", client.events.generate_sqs_event(
            message_bodies=[m["Body"] for m in mine], queue_name=settings.resource_name("imports")))
    mp.delenv("IMPORT_CHUNK_ROWS")
    view = call("GET", "/imports/{import_id}", f"/imports/{upload['import_id']}", admin).json_body
    assert (view["status"], view["rows_imported"], view["rows_failed"]) == ("COMPLETED", 5, 1), view

    for body in (png(), b"not an image"):
        key = call("POST", "/products/{product_id}/image", f"/products/{product_id}/image", admin).json_body["key"]
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        invoke("attach_uploaded_image", s3_event(key))
    assert call("GET", "/products/{product_id}", f"/products/{product_id}").json_body["image_url"]
    return upload["import_id"]


def exercise_realtime(invoke: Any, client: Client, app: Any, shopper: Any, admin: Any, order_id: str,
                      import_ids: tuple[str, str], account: Account, mp: pytest.MonkeyPatch) -> None:
    """Connect (a shopper and an admin), ping, push an order, a notification and the frames of an import
    in progress and of a finished one (one connection gone: API Gateway answers GoneException, which
    moto's stub never does), disconnect."""
    from botocore.awsrequest import AWSResponse

    from chalicelib.realtime.models import Connection
    from devstack import websocket_events

    api_id, stage = settings.websocket_api()
    # Each function has its own app.websocket_api in its own container: start unconfigured.
    mp.setattr(app.websocket_api, "_endpoint", None)
    mp.setattr(app.websocket_api, "_client", None)
    stale = "stale000000000="

    class Gone:
        def stream(self, **_: Any) -> Iterator[bytes]:
            return iter([b'{"message": "Gone"}'])

    def gone_for_stale(request: Any, **_: Any) -> Any:
        if quote_plus(stale) in request.url:
            return AWSResponse(request.url, 410, {"x-amzn-ErrorType": "GoneException"}, Gone())
        return None

    app.websocket_api.session.events.register("before-send.apigatewaymanagementapi", gone_for_stale)

    def ws_event(user: Any) -> dict:
        return websocket_events.connect_event(websocket_events.new_connection_id(), f"/?token={user.id_token}", {},
                                              api_id=api_id, stage=stage, region=REGION, connected_at_ms=0,
                                              source_ip="127.0.0.1")

    shopper_connect, admin_connect = ws_event(shopper), ws_event(admin)
    for event in (shopper_connect, admin_connect):
        assert invoke("websocket_connect", event)["statusCode"] == 200
    connection_id = shopper_connect["requestContext"]["connectionId"]
    invoke("websocket_message", websocket_events.message_event(
        connection_id, '{"action": "ping"}', api_id=api_id, stage=stage, region=REGION, connected_at_ms=0,
        source_ip="127.0.0.1", user_agent="iam"))
    mp.setattr(app.websocket_api, "_endpoint", None)  # the pusher: a container of its own
    mp.setattr(app.websocket_api, "_client", None)
    connection = Connection.get(f"CONNECTION#{connection_id}", "CONNECTION")
    Connection(pk=f"CONNECTION#{stale}", sk="CONNECTION", connection_id=stale, user_id=shopper.user_id,
               is_admin=False, connected_at=connection.connected_at, gsi1pk=connection.gsi1pk,
               gsi1sk=f"CONNECTION#{stale}", expires_at=connection.expires_at).save()
    notification = {"notification_id": "n1", "type": "OrderPlaced", "subject": "s", "body": "b",
                    "created_at": connection.connected_at}
    for envelope in (event_of(order_id, "OrderPlaced"),
                     {**event_of(order_id, "OrderPlaced"), "event_type": "NotificationStored",
                      "data": {"user_id": shopper.user_id, "notification_id": "n1", "notification": notification}},
                     {**event_of(order_id, "OrderPlaced"), "event_type": "ProductImported",
                      "data": {**example("ProductImported"), "import_id": import_ids[0]}},
                     {**event_of(order_id, "OrderPlaced"), "event_type": "ImportFinished",
                      "data": {**example("ImportFinished"), "import_id": import_ids[1]}}):
        response = invoke("push_updates", sqs_event(settings.REALTIME_QUEUE, envelope, account))
        assert response == {"batchItemFailures": []}, response
    invoke("websocket_disconnect", {"requestContext": {**shopper_connect["requestContext"],
                                                       "routeKey": "$disconnect", "eventType": "DISCONNECT"}})


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 60)).save(out, format="PNG")
    return out.getvalue()


def stage_names(stack: dict[str, str], account: Account) -> policies.StageNames:
    return policies.StageNames(stage="local", target=Target(account=account.id, region=REGION),
                               outputs={"OutboxStreamArn": stack[settings.OUTBOX_STREAM_ARN],
                                        "UserPoolId": stack[settings.USER_POOL_ID],
                                        policies.WEBSOCKET_API_ID_OUTPUT: settings.websocket_api()[0]},
                               sender_email=settings.DEFAULT_SENDER_EMAIL)


def test_every_function_of_the_app_is_exercised_and_has_declared_access(exercised):
    from app import app

    functions = policies.function_names(app)
    assert set(functions) == set(policies.ACCESS), "ACCESS must list exactly the app's functions"
    assert set(functions) - exercised == KNOWN_UNVERIFIED_FUNCTIONS


def test_no_call_of_the_flows_is_denied(exercised, denials):
    assert denials == []


def test_the_generated_documents_name_every_action_and_resource(stack, account):
    from app import app

    documents = policies.policies_for(app, stage_names(stack, account))
    for function, document in documents.items():
        for statement in document["Statement"]:
            assert all("*" not in action for action in statement["Action"]), (function, statement)
            if statement["Resource"] == ["*"]:  # only actions without resource-level permissions
                assert set(statement["Action"]) <= set(policies.UNSCOPED_ACTIONS), (function, statement)
            else:
                assert all(r.startswith("arn:aws:") for r in statement["Resource"]), (function, statement)
                assert all(":*:" not in r for r in statement["Resource"]), (function, statement)


def test_event_sources_get_exactly_what_lambda_needs_for_them(stack, account):
    from app import app

    names, sqs = stage_names(stack, account), boto3.client("sqs", region_name=REGION)
    for source in app.event_sources:
        grants = policies.event_source_grants(app, source.name)
        kind = type(source).__name__
        actions = {a for g in grants for a in g.actions}
        if kind == "SQSEventConfig":
            assert actions == set(policies.SQS_CONSUMER_ACTIONS)
            assert grants[0].resources == (f"queue-name:{source.queue}",)
            queue_url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
            assert names.resolve(grants[0].resources[0]) == queue_arn["Attributes"]["QueueArn"]
        elif kind == "DynamoDBEventConfig":
            assert actions == set(policies.STREAM_READER_ACTIONS) | {"dynamodb:ListStreams", "sqs:SendMessage"}
        else:
            assert actions == {"sqs:SendMessage"} and grants[0].resources == (f"queue:{ASYNC_FAILURES_QUEUE}",)


def test_a_removed_grant_breaks_the_functions_real_path_with_the_aws_error(stack, account, denials):
    """A redelivered PaymentSucceeded needs the inbox read; without dynamodb:GetItem on the inbox the
    consumer fails with DynamoDB's AccessDeniedException, so Lambda retries the batch (then the DLQ)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from app import app

    shopper, product = make_user(), _product()
    with Client(app, stage_name="local") as client:
        order = client.http.post("/orders", headers=shopper.headers, body=json.dumps(
            {"items": [{"product_id": product, "quantity": 1}], "payment_token": "tok_visa"})).json_body
        placed = event_of(order["order_id"], "OrderPlaced")
        assert not client.lambda_.invoke("handle_payment_messages",
                                         sqs_event("payments", placed, account)).payload.get("batchItemFailures")
        succeeded = sqs_event("orders", event_of(order["order_id"], "PaymentSucceeded"), account)
        assert not client.lambda_.invoke("apply_payment_results", succeeded).payload.get("batchItemFailures")
        inbox = account.arn("dynamodb", "table/storefront-local-inbox")
        with iam.revoked("apply_payment_results", "dynamodb:GetItem", inbox), \
                pytest.raises(BatchProcessingError, match="AccessDeniedException"):
            client.lambda_.invoke("apply_payment_results", succeeded)  # Lambda retries the batch, then the DLQ
        assert denials == [f"[devstack] access denied apply_payment_results dynamodb:GetItem {inbox}"]
        denials.clear()
        # With the grant back, the same redelivery is the harmless duplicate it is on AWS.
        assert not client.lambda_.invoke("apply_payment_results", succeeded).payload.get("batchItemFailures")
        assert client.http.get(f"/orders/{order['order_id']}", headers=shopper.headers).json_body["status"] == "PAID"


def test_a_denied_call_raises_the_services_own_error(stack):
    from botocore.exceptions import ClientError

    from app import app  # noqa: F401 - the app's functions and their policies

    sns = boto3.client("sns", region_name=REGION)
    with iam.running_as("jwt_authorizer"), pytest.raises(ClientError) as error:  # it may not publish
        sns.publish(TopicArn=stack[settings.EVENTS_TOPIC_ARN], Message="{}")
    assert error.value.response["Error"]["Code"] == "AuthorizationError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "is not authorized to perform: sns:Publish on resource" in error.value.response["Error"]["Message"]


def _product() -> str:
    from chalicelib.catalog import service as catalog

    return catalog.create_product({"sku": f"IAMR-{uuid.uuid4().hex[:8]}", "name": "Redelivered", "price_cents": 300,
                                   "stock": 5})["product_id"]
