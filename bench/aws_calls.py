"""AWS calls per operation, for every route and event handler, next to the minimum possible.

Every AWS call any client makes (boto3's and PynamoDB's alike) is counted through botocore's
`before-call` event, registered on each client as it is created. The app runs in-process on moto
(`mock_aws`, the same stack the unit tests use), through `chalice.test.Client`. A request path
above its minimum, or any Scan anywhere, fails the run (exit status 1).

    .venv/bin/python -m bench.aws_calls

The baseline of this run is the MINIMUM table: what the operation cannot do with fewer calls.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.environment import use_in_process_environment  # noqa: E402

use_in_process_environment(POWERTOOLS_LOG_LEVEL="WARNING")

import logging  # noqa: E402
import warnings  # noqa: E402

import botocore.session  # noqa: E402

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

CALLS: list[str] = []
_create_client = botocore.session.Session.create_client


def _counting_create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
    client = _create_client(self, *args, **kwargs)
    client.meta.events.register("before-call", _count)
    return client


def _count(event_name: str, **_: Any) -> None:
    _, service, operation = event_name.split(".", 2)
    CALLS.append(f"{service}.{operation}")


botocore.session.Session.create_client = _counting_create_client

# The fast path (chalicelib/events/direct_publish.py): after a transaction that records events commits,
# one BatchWriteItem of their audit items, one SNS PublishBatch (up to 10 events) and one UpdateItem per
# event (marked published, so that neither the stream publisher nor the relay sends it again). Every
# operation below that commits events pays it.
FAST_PATH = 3


def fast(calls: int, why: str) -> tuple[int, str]:
    """The minimum of an operation that commits events: its own calls and the fast path's."""
    return calls + FAST_PATH, why + " + PublishBatch + UpdateItem (the fast path)"


# The minimum AWS calls of each operation, and why. Request paths must be at it.
MINIMUM: dict[str, tuple[int, str]] = {
    "GET /health": (0, "static"),
    "GET /health?deep=1": (10, "GetItem per table (8) + SNS GetTopicAttributes + Cognito DescribeUserPool"),
    "GET /openapi.json": (0, "built from the routes"),
    "POST /auth/signup": (4, "Cognito SignUp + AdminConfirmSignUp + AdminUpdateUserAttributes (email_verified;"
                          " both local stage) + PutItem profile"),
    "POST /auth/login": (1, "Cognito InitiateAuth"),
    "POST /auth/refresh": (1, "Cognito InitiateAuth (REFRESH_TOKEN_AUTH)"),
    "GET /users/me": (1, "GetItem profile"),
    "PATCH /users/me": (1, "UpdateItem profile (returns the new item)"),
    "GET /users/{user_id}": (2, "GetItem profile + Cognito AdminListGroupsForUser (is_admin of another user)"),
    "GET /products": (2, "Query the active-products index + BatchGetItem the page's STOCK items (in no index)"),
    "GET /products?q=": (2, "Query the search entries of the rarest word + BatchGetItem the page's products and STOCK"),
    "GET /products?sort=price_asc": (2, "Query the price order of every product (gsi1) + BatchGetItem products, STOCK"),
    "GET /categories": (1, "Query the category counts"),
    "GET /products/{product_id}": (1, "BatchGetItem: product + STOCK item"),
    "POST /products": fast(1, "TransactWriteItems: product + STOCK + SKU claim + search entries + category count + "
                              "outbox"),
    "PATCH /products/{product_id}": fast(2, "BatchGetItem product + STOCK (to diff, emit the event and answer) + tx"),
    "DELETE /products/{product_id}": fast(2, "BatchGetItem + TransactWriteItems (product, STOCK, SKU claim, outbox)"),
    "POST /orders": fast(2, "BatchGetItem products + STOCK items + TransactWriteItems (order, STOCK items, outbox)"),
    "POST /orders (sharded product)": fast(3, "BatchGetItem products + shard 0s + BatchGetItem the other shards + tx"),
    "GET /products/{product_id} (sharded stock)": (2, "BatchGetItem product + shard 0 (says N) + the other shards"),
    "POST /orders (with Idempotency-Key)": fast(3, "GetItem key record (a replay costs 2, not 3) + BatchGetItem + tx"),
    "POST /orders (idempotent replay)": (2, "GetItem the key record + GetItem the order's current state"),
    "GET /orders": (1, "Query the user's orders"),
    "GET /users/{user_id}/orders": (1, "Query the user's orders"),
    "GET /orders/{order_id}": (1, "GetItem"),
    "POST /orders/{order_id}/cancel": fast(2, "GetItem + TransactWriteItems (order, STOCK items, outbox)"),
    "POST /orders/{order_id}/ship": fast(3, "GetItem + TransactWriteItems (tracking record, order, outbox) + "
                                     "SendTaskSuccess (the workflow's ship wait)"),
    "GET /admin/orders?status=": (1, "Query the orders-by-status index"),
    "POST /carrier/events (first: reads the secret)": (4, "GetSecretValue AWSCURRENT + AWSPREVIOUS (then kept a "
                                                         "minute) + GetItem tracking record + GetItem order"),
    "GET /orders/{order_id}/fulfilment": (2, "GetItem order (steps, ownership) + DescribeExecution (its status)"),
    "POST /carrier/events (DELIVERED, secret cached)": fast(4, "GetItem tracking record + GetItem order + "
                                                          "TransactWriteItems (order, outbox) + SendTaskSuccess"),
    "handler handle_fulfilment_tasks (ship wait: packed)": fast(2, "GetItem order + tx (order, outbox)"),
    "GET /orders/{order_id}/payment": (2, "GetItem order (ownership) + Query/GetItem payment"),
    "GET /orders/{order_id}/events": (2, "GetItem order (ownership) + Query the timeline"),
    "GET /notifications": (1, "Query the user's notifications"),
    "handler publish_outbox (10 events)": (13, "BatchGetItem (which are published already: none here) + BatchWriteItem "
                                           "of the audit log + one SNS PublishBatch per 10 events + UpdateItem per "
                                           "event (mark)"),
    "handler handle_payment_messages (container's first)": (
        4 + FAST_PATH, "SSM GetParameter (the provider's API key, once per container) + the 5 below"),
    "handler handle_payment_messages (OrderPlaced)": fast(3, "provider charge (idempotent put) + GetItem + inbox tx"),
    "handler apply_payment_results (PaymentSucceeded)": (3, "GetItem order + TransactWriteItems (inbox, order) + "
                                                         "StartExecution (fulfilment; no event, so no fast path)"),
    "handler send_notifications (PaymentSucceeded)": fast(
        4, "GetItem (handled already?), Cognito AdminGetUser (verified address), SES, one tx (notification with "
           "its outcome + NotificationStored)"),
    "handler websocket_connect": (1, "PutItem connection (the token is checked against the cached JWKS)"),
    "handler websocket_message (ping)": (1, "PostToConnection (the pong)"),
    "handler push_updates (OrderShipped, 1 connection)": (
        4, "GetItem order + Query owner's connections + Query admins' connections + PostToConnection"),
    "handler websocket_disconnect": (1, "DeleteItem connection"),
    "handler cancel_unpaid_orders (nothing due)": (8, "one Query per pending-index shard"),
    "handler relay_outbox (nothing due)": (8, "one 1-item Query per unpublished-index shard (the oldest)"),
}


@dataclass
class Result:
    name: str
    calls: list[str]
    status: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def minimum(self) -> int:
        return MINIMUM[self.name][0]


@contextmanager
def counted() -> Any:
    start = len(CALLS)
    box: list[str] = []
    yield box
    box.extend(CALLS[start:])


def main() -> int:
    from chalice.test import Client

    from chalicelib.accounts import tokens
    from devstack.moto_fixes import serialize_dynamodb
    from tests.aws import local_stack, moto_public_jwks

    serialize_dynamodb()
    tokens.fetch_jwks = moto_public_jwks
    tokens.keys.clear()
    with local_stack():
        import app as app_module
        from tests.users import make_user

        results = run_scenarios(Client(app_module.app, stage_name="local"), make_user)
    return report(results)


def run_scenarios(client: Any, make_user: Callable[..., Any]) -> list[Result]:
    admin, user = make_user(admin=True), make_user()
    results: list[Result] = []

    def http(name: str, method: str, path: str, who: Any = None, body: Any = None,
             headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Content-Type": "application/json", **(who.headers if who else {}), **(headers or {})}
        with counted() as calls:
            response = client.http.request(method, path, headers=all_headers,
                                           body=json.dumps(body).encode() if body is not None else b"")
        results.append(Result(name, calls, response.status_code))
        return response

    http("GET /health", "GET", "/health")
    http("GET /health?deep=1", "GET", "/health?deep=1")
    http("GET /openapi.json", "GET", "/openapi.json")
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    http("POST /auth/signup", "POST", "/auth/signup", body={"email": email, "password": "Bench-Passw0rd!",
                                                             "name": "Bench"})
    login = http("POST /auth/login", "POST", "/auth/login", body={"email": email, "password": "Bench-Passw0rd!"})
    http("POST /auth/refresh", "POST", "/auth/refresh", body={"refresh_token": login.json_body["refresh_token"]})
    http("GET /users/me", "GET", "/users/me", user)
    http("PATCH /users/me", "PATCH", "/users/me", user, {"name": "Renamed"})
    http("GET /users/{user_id}", "GET", f"/users/{user.user_id}", admin)
    product = http("POST /products", "POST", "/products", admin, {
        "sku": f"BENCH-{uuid.uuid4().hex[:8]}", "name": "Bench mug", "price_cents": 1200, "stock": 100,
        "category": "bench"}).json_body
    pid = product["product_id"]
    http("GET /products", "GET", "/products?limit=20")
    http("GET /products?q=", "GET", "/products?q=bench%20mug&limit=20")
    http("GET /products?sort=price_asc", "GET", "/products?sort=price_asc&limit=20")
    http("GET /categories", "GET", "/categories")
    http("GET /products/{product_id}", "GET", f"/products/{pid}")
    http("PATCH /products/{product_id}", "PATCH", f"/products/{pid}", admin, {"price_cents": 1300})
    order_body = {"items": [{"product_id": pid, "quantity": 1}], "payment_token": "tok_visa"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    order = http("POST /orders", "POST", "/orders", user, order_body).json_body
    http("POST /orders (with Idempotency-Key)", "POST", "/orders", user, order_body, key)
    http("POST /orders (idempotent replay)", "POST", "/orders", user, order_body, key)
    oid = order["order_id"]
    http("GET /orders", "GET", "/orders", user)
    http("GET /users/{user_id}/orders", "GET", f"/users/{user.user_id}/orders", user)
    http("GET /orders/{order_id}", "GET", f"/orders/{oid}", user)
    http("GET /orders/{order_id}/payment", "GET", f"/orders/{oid}/payment", user)
    http("GET /orders/{order_id}/events", "GET", f"/orders/{oid}/events", user)
    http("GET /notifications", "GET", "/notifications", user)
    run_handlers(client, results, user, oid, order["total_cents"])
    from chalicelib.fulfilment import carrier
    from chalicelib.fulfilment import service as fulfilment
    from chalicelib.settings import carrier_secret_name

    with counted() as calls:  # the workflow's ship wait, as the state machine sends it: the warehouse has packed
        fulfilment.on_wait({"order_id": oid, "step": "ship", "overdue": False, "task_token": "bench-token"})
    results.append(Result("handler handle_fulfilment_tasks (ship wait: packed)", calls))
    http("GET /admin/orders?status=", "GET", "/admin/orders?status=PACKED", admin)
    http("GET /orders/{order_id}/fulfilment", "GET", f"/orders/{oid}/fulfilment", user)
    tracking = f"BENCH{uuid.uuid4().hex[:10]}"
    http("POST /orders/{order_id}/ship", "POST", f"/orders/{oid}/ship", admin, {"tracking_number": tracking})
    import time

    import boto3

    fulfilment.on_wait({"order_id": oid, "step": "deliver", "overdue": False, "task_token": "bench-deliver"})
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=carrier_secret_name())["SecretString"])["secret"]
    for name in ("POST /carrier/events (first: reads the secret)", "POST /carrier/events (DELIVERED, secret cached)"):
        raw = json.dumps({"tracking_number": tracking, "status": "IN_TRANSIT" if "first" in name else "DELIVERED",
                          "occurred_at": "2026-12-01T10:00:00Z"}).encode()
        stamp = str(int(time.time()))
        with counted() as calls:
            response = client.http.post("/carrier/events", body=raw, headers={
                "Content-Type": "application/json", carrier.TIMESTAMP_HEADER: stamp,
                carrier.SIGNATURE_HEADER: carrier.sign(secret, stamp, raw)})
        results.append(Result(name, calls, response.status_code))
    second = http("POST /orders", "POST", "/orders", user, order_body).json_body
    results.pop()  # already measured above
    http("POST /orders/{order_id}/cancel", "POST", f"/orders/{second['order_id']}/cancel", user)
    http("DELETE /products/{product_id}", "DELETE", f"/products/{pid}", admin)
    from chalicelib.catalog.service import create_product
    from ops.stock_shards import reshard  # the operator's command, for a hot product

    hot = create_product({"sku": f"BENCH-{uuid.uuid4().hex[:8]}", "name": "Bench best-seller", "price_cents": 900,
                          "stock": 100, "category": "bench"})["product_id"]
    reshard(hot, 4)
    http("GET /products/{product_id} (sharded stock)", "GET", f"/products/{hot}")
    http("POST /orders (sharded product)", "POST", "/orders", user,
         {"items": [{"product_id": hot, "quantity": 1}], "payment_token": "tok_visa"})
    return results


def run_websocket_handlers(invoke: Callable[[str, str, dict], None], user: Any, order_id: str, sqs: Any) -> None:
    """A connection's life: open it, ping, one order frame to it (no admin is connected), close it."""

    from chalicelib.realtime.models import Connection
    from devstack import websocket_events
    from tests.events import received

    os.environ["STOREFRONT_WEBSOCKET_API_ID"] = "benchws"
    for item in Connection.scan():  # only this connection is live: the frame goes to one recipient
        item.delete()
    common = {"api_id": "benchws", "stage": "api", "region": "us-east-1", "connected_at_ms": 0,
              "source_ip": "127.0.0.1"}
    connect = websocket_events.connect_event(websocket_events.new_connection_id(), f"/?token={user.id_token}",
                                             {}, **common)
    connection_id = connect["requestContext"]["connectionId"]
    invoke("handler websocket_connect", "websocket_connect", connect)
    invoke("handler websocket_message (ping)", "websocket_message",
           websocket_events.message_event(connection_id, '{"action": "ping"}', user_agent="bench", **common))
    invoke("handler push_updates (OrderShipped, 1 connection)", "push_updates",
           sqs(message_bodies=[received("OrderShipped", order_id=order_id).to_json()],
               queue_name="storefront-local-realtime"))
    invoke("handler websocket_disconnect", "websocket_disconnect", {"requestContext": {
        **connect["requestContext"], "routeKey": "$disconnect", "eventType": "DISCONNECT"}})


def run_handlers(client: Any, results: list[Result], user: Any, order_id: str, total_cents: int) -> None:
    """Each event handler once, with the event Lambda would give it, made from the real outbox."""
    from chalicelib.payments.provider import api_key
    from tests.events import data_of, received

    def invoke(name: str, handler: str, event: dict) -> None:
        with counted() as calls:
            client.lambda_.invoke(handler, event)
        results.append(Result(name, calls))

    placed = received("OrderPlaced", order_id=order_id, user_id=user.user_id, email=user.email, items=[],
                      total_cents=total_cents, currency="USD", payment_token="tok_visa")
    succeeded = received("PaymentSucceeded", order_id=order_id, user_id=user.user_id, email=user.email,
                         payment_id=uuid.uuid4().hex, amount_cents=total_cents, currency="USD")
    sqs = client.events.generate_sqs_event

    invoke("handler publish_outbox (10 events)", "publish_outbox", stream_event([placed] * 10))
    api_key.cache_clear()  # a fresh container: its first charge reads the provider's API key
    invoke("handler handle_payment_messages (container's first)", "handle_payment_messages",
           sqs(message_bodies=[placed.to_json()], queue_name="storefront-local-payments"))
    another = received("OrderPlaced", data_of(placed), order_id=uuid.uuid4().hex)
    invoke("handler handle_payment_messages (OrderPlaced)", "handle_payment_messages",
           sqs(message_bodies=[another.to_json()], queue_name="storefront-local-payments"))
    invoke("handler apply_payment_results (PaymentSucceeded)", "apply_payment_results",
           sqs(message_bodies=[succeeded.to_json()], queue_name="storefront-local-orders"))
    invoke("handler send_notifications (PaymentSucceeded)", "send_notifications",
           sqs(message_bodies=[succeeded.to_json()], queue_name="storefront-local-notifications"))
    run_websocket_handlers(invoke, user, order_id, sqs)
    invoke("handler cancel_unpaid_orders (nothing due)", "cancel_unpaid_orders", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region="us-east-1"))
    invoke("handler relay_outbox (nothing due)", "relay_outbox", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region="us-east-1"))


def stream_event(events: list[Any]) -> dict:
    records = [{"eventID": str(i), "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/storefront-local-outbox/stream/x",
                "dynamodb": {"SequenceNumber": str(i), "ApproximateCreationDateTime": 0, "Keys": {}, "SizeBytes": 1,
                             "StreamViewType": "NEW_IMAGE", "NewImage": {
                    "pk": {"S": f"EVENT#{event.event_id}"}, "event_type": {"S": event.event_type},
                    "body": {"S": event.to_json()}}}}
               for i, event in enumerate(events)]
    return {"Records": records}


def report(results: list[Result]) -> int:
    failures: list[str] = []
    print(f"{'operation':<52} {'status':>6} {'calls':>5} {'min':>4}  calls made")
    for result in results:
        counts = Counter(result.calls)
        made = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in counts.items()) or "-"
        flag = ""
        if any(call.endswith(".Scan") for call in result.calls):
            flag = "  <-- SCAN"
            failures.append(f"{result.name} made a Scan")
        if result.status is not None and len(result.calls) > result.minimum:
            flag += "  <-- above the minimum"
            failures.append(f"{result.name}: {len(result.calls)} calls, minimum {result.minimum}")
        if result.status is not None and result.status >= 500:
            failures.append(f"{result.name} answered {result.status}")
        status = "" if result.status is None else str(result.status)
        print(f"{result.name:<52} {status:>6} {len(result.calls):>5} {result.minimum:>4}  {made}{flag}")
    untested = sorted(set(MINIMUM) - {r.name for r in results})
    if untested:
        failures.append(f"not measured: {untested}")
    total = sum(len(r.calls) for r in results)
    print(f"\n{len(results)} operations, {total} AWS calls; baseline: the minimum column "
          f"(sum {sum(r.minimum for r in results)})")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("every request path at its minimum; no Scan anywhere")
    return 0


if __name__ == "__main__":
    sys.exit(main())
