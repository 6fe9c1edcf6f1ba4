"""Least privilege, checked against what the code does: every AWS call each function makes while the
flows below exercise it (recorded from botocore, which boto3 and PynamoDB both use) must be allowed
by that function's generated policy (deploy/policies.py), and every action on every resource the
policy grants must have been used by some call.

Calls Lambda makes with the role (polling a queue or stream, failure destinations, logs, X-Ray) are
not code calls; they come from `policies.event_source_grants` and are checked separately.
"""

from __future__ import annotations

import contextvars
import fnmatch
import hashlib
import io
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.client import BaseClient
from chalice.test import Client

from chalicelib import settings
from chalicelib.imports import service as imports_service
from chalicelib.payments import provider
from deploy import policies
from deploy.post_deploy import ASYNC_FAILURES_QUEUE, Target
from devstack.lambda_events import records_event, sqs_record
from tests.aws import REGION
from tests.users import make_user

pytestmark = [pytest.mark.usefixtures("stack"), pytest.mark.xdist_group("iam")]

# Cognito operations authorized by the app client id, not IAM (SigV4 is ignored for them).
COGNITO_PUBLIC = {"SignUp", "ConfirmSignUp", "InitiateAuth", "RespondToAuthChallenge", "ResendConfirmationCode",
                  "ForgotPassword", "ConfirmForgotPassword", "GetUser", "GlobalSignOut", "RevokeToken"}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem"}
ACTION_RENAMES = {("sns", "PublishBatch"): "Publish", ("s3", "HeadObject"): "GetObject"}
# Functions and routes whose flows are not written: their ACCESS would be declared from the code
# but not checked against recorded calls. The coverage test fails when a list is stale either way.
KNOWN_UNVERIFIED_FUNCTIONS: set[str] = set()
KNOWN_UNVERIFIED_ROUTES: set[tuple[str, str]] = set()

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("iam_function", default=None)
RECORDED: dict[str, set[tuple[str, str]]] = defaultdict(set)


class Account:
    def __init__(self) -> None:
        self.id = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{REGION}:{self.id}:{resource}"


def iam_requests(service: str, operation: str, params: dict[str, Any], account: Account) -> set[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs one API call is authorized against."""
    if service == "dynamodb":
        table = lambda name: account.arn("dynamodb", f"table/{name}")  # noqa: E731
        if operation == "TransactWriteItems":
            return {(f"dynamodb:{TRANSACT_ACTIONS[kind]}", table(item[kind]["TableName"]))
                    for item in params["TransactItems"] for kind in item}
        if operation == "TransactGetItems":
            return {("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in params["TransactItems"]}
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return {(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]}
        arn = table(params["TableName"])
        if params.get("IndexName"):
            arn += f"/index/{params['IndexName']}"
        return {(f"dynamodb:{operation}", arn)}
    if service == "cognito-idp":
        if operation in COGNITO_PUBLIC:
            return set()
        return {(f"cognito-idp:{operation}", account.arn("cognito-idp", f"userpool/{params['UserPoolId']}"))}
    if service == "sns":
        return {(f"sns:{ACTION_RENAMES.get((service, operation), operation)}", params["TopicArn"])}
    if service == "ses":
        return {(f"ses:{operation}", account.arn("ses", f"identity/{params['Source']}"))}
    if service == "sqs":
        queue = params["QueueName"] if operation == "GetQueueUrl" else params["QueueUrl"].rsplit("/", 1)[1]
        return {(f"sqs:{operation}", account.arn("sqs", queue))}
    if service == "s3":
        action = ACTION_RENAMES.get((service, operation), operation)
        return {(f"s3:{action}", f"arn:aws:s3:::{params['Bucket']}/{params.get('Key', '')}")}
    if service == "ssm":  # a name starting with "/" is not repeated after "parameter" in the ARN
        name = params["Name"]
        return {(f"ssm:{operation}", account.arn("ssm", f"parameter{'' if name.startswith('/') else '/'}{name}"))}
    raise AssertionError(f"no IAM mapping for {service}:{operation}; extend iam_requests")


@pytest.fixture(scope="module")
def account() -> Account:
    return Account()


@pytest.fixture(scope="module")
def recorder(account: Account) -> Iterator[dict[str, set[tuple[str, str]]]]:
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation_name: str, api_params: dict) -> Any:
        function = _current.get()
        if function is not None:
            service = self.meta.service_model.service_name
            RECORDED[function] |= iam_requests(service, operation_name, api_params, account)
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = recording
    try:
        yield RECORDED
    finally:
        BaseClient._make_api_call = original


@contextmanager
def as_function(name: str) -> Iterator[None]:
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


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
def exercised(recorder, account, stack) -> dict[str, set[tuple[str, str]]]:
    """Run every function through a representative flow, recording its AWS calls."""
    from app import app

    admin, shopper = make_user(admin=True), make_user()
    routes_called: set[tuple[str, str]] = set()
    with Client(app, stage_name="local") as client, pytest.MonkeyPatch.context() as mp:

        def call(method: str, route: str, path: str, user: Any = None, body: Any = None) -> Any:
            headers = dict(user.headers) if user else {"Content-Type": "application/json"}
            with as_function(policies.API_HANDLER):
                response = getattr(client.http, method.lower())(
                    path, headers=headers, body=json.dumps(body) if body is not None else None)
            assert response.status_code < 500, (method, path, response.body)
            routes_called.add((method, route))
            return response

        def invoke(function: str, event: dict) -> Any:
            with as_function(function):
                return client.lambda_.invoke(function, event).payload

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
        call("POST", "/products/{product_id}/image", f"/products/{product['product_id']}/image", admin)
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
        invoke("apply_payment_results", sqs_event("orders", event_of(paid["order_id"], "PaymentSucceeded"), account))
        invoke("handle_payment_messages", sqs_event("payments", event_of(declined["order_id"], "OrderPlaced"), account))
        invoke("apply_payment_results", sqs_event("orders", event_of(declined["order_id"], "PaymentFailed"), account))
        invoke("handle_payment_messages", sqs_event("payments", event_of(cancelled["order_id"], "OrderCancelled"),
                                                    account))
        notification = sqs_event("notifications", placed, account)
        invoke("send_notifications", notification)
        invoke("send_notifications", notification)  # a redelivery: the duplicate path
        invoke("record_audit_event", client.events.generate_sns_event(message=json.dumps(placed)))
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
        assert call("POST", "/orders/{order_id}/ship", f"/orders/{paid['order_id']}/ship",
                    admin).json_body["status"] == "SHIPPED"
        exercise_uploads(call, invoke, client, admin, product["product_id"], mp)
        with as_function("jwt_authorizer"):
            client.lambda_.invoke("jwt_authorizer", {"type": "TOKEN", "authorizationToken": shopper.headers[
                "Authorization"], "methodArn": "arn:aws:execute-api:us-east-1:1:api/api/GET/users/me"})

    missing_routes = {(m, p) for p, methods in app.routes.items() for m in methods} - routes_called
    assert missing_routes == KNOWN_UNVERIFIED_ROUTES, \
        f"routes the IAM flow does not exercise (add them above): {sorted(missing_routes)}"
    return RECORDED


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
    imports_service._queue_url.cache_clear()  # each function resolves the queue in its own container
    assert invoke("import_uploaded_file", s3_event(upload["key"])) == "handed_on"
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.get_queue_url(QueueName=settings.resource_name("imports"))["QueueUrl"]
    while mine := [m for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                  VisibilityTimeout=0).get("Messages", [])
                   if json.loads(m["Body"]).get("key") == upload["key"]]:
        for message in mine:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        imports_service._queue_url.cache_clear()
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


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 60)).save(out, format="PNG")
    return out.getvalue()


def stage_names(stack: dict[str, str], account: Account) -> policies.StageNames:
    return policies.StageNames(stage="local", target=Target(account=account.id, region=REGION),
                               outputs={"OutboxStreamArn": stack[settings.OUTBOX_STREAM_ARN],
                                        "UserPoolId": stack[settings.USER_POOL_ID]},
                               sender_email=settings.DEFAULT_SENDER_EMAIL)


def code_grants(names: policies.StageNames, function: str) -> set[tuple[str, str]]:
    return {(action, names.resolve(symbol)) for grant in policies.ACCESS[function]
            for action in grant.actions for symbol in grant.resources}


def allowed(request: tuple[str, str], grants: set[tuple[str, str]]) -> bool:
    action, arn = request
    return any(action == a and fnmatch.fnmatchcase(arn, pattern) for a, pattern in grants)


def test_every_function_of_the_app_is_exercised_and_has_declared_access(exercised):
    from app import app

    functions = policies.function_names(app)
    assert set(functions) == set(policies.ACCESS), "ACCESS must list exactly the app's functions"
    assert set(functions) - set(exercised) - {"jwt_authorizer"} == KNOWN_UNVERIFIED_FUNCTIONS


@pytest.mark.parametrize("function", sorted(set(policies.ACCESS) - KNOWN_UNVERIFIED_FUNCTIONS))
def test_the_policy_allows_every_call_the_function_makes_and_nothing_it_never_makes(exercised, stack, account,
                                                                                   function):
    names = stage_names(stack, account)
    grants = code_grants(names, function)
    made = exercised.get(function, set())
    missing = sorted(r for r in made if not allowed(r, grants))
    unused = sorted(g for g in grants if not any(allowed(r, {g}) for r in made))
    assert not missing, f"{function} makes calls its policy does not allow: {missing}"
    assert not unused, f"{function}'s policy grants what it never uses: {unused}"


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
