"""The local stack refuses what AWS refuses: IAM per function, S3's request signatures, API Gateway's
edge, and a DynamoDB stream that reports exactly the committed writes, under concurrency too."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.config import Config

from devstack import iam
from tests.e2e.conftest import DevStack, poll
from tests.e2e.test_order_saga import PASSWORD, Api, log_in, new_product, place, stock_of

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
DLQS = ("payments-dlq", "orders-dlq", "notifications-dlq")


@pytest.fixture(scope="module")
def admin(devstack) -> Api:
    return log_in(devstack, "admin@example.com", "Admin-Passw0rd!")


def shopper(devstack: DevStack) -> tuple[Api, str]:
    email = f"fidelity-{uuid.uuid4().hex[:8]}@example.com"
    signup = Api(devstack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Fi"})
    assert signup.status_code == 201, signup.text
    return log_in(devstack, email, PASSWORD), signup.json()["user_id"]


def probe_queue(devstack: DevStack) -> str:
    """A queue receiving every event the topic publishes (raw envelopes)."""
    sqs, sns = devstack.client("sqs"), devstack.client("sns")
    url = sqs.create_queue(QueueName=f"fidelity-probe-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(":storefront-local-events"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return url


def drain(devstack: DevStack, url: str) -> list[dict]:
    sqs, events = devstack.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        events += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(batch)])
    return events


def dlq_bodies(devstack: DevStack) -> list[str]:
    sqs, bodies = devstack.client("sqs"), []
    for name in DLQS:
        url = sqs.get_queue_url(QueueName=f"storefront-local-{name}")["QueueUrl"]
        bodies += [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                         VisibilityTimeout=0).get("Messages", [])]
    return bodies


def test_concurrent_orders_with_one_key_and_stock_rejections_keep_the_event_history_exact(devstack, admin):
    """8 concurrent POST /orders with one Idempotency-Key beside orders that race for the last units,
    6 rounds: cancelled transactions in every burst. Every created order has exactly one OrderPlaced
    and one PaymentSucceeded, no event names an order that does not exist, nothing is parked in a
    DLQ, and stock is the initial stock less the paid units."""
    probe = probe_queue(devstack)
    keyed, scarce = new_product(admin, stock=100, price_cents=500), new_product(admin, stock=9, price_cents=700)
    users = [shopper(devstack) for _ in range(4)]
    created: dict[str, int] = {}  # order id -> units of `scarce`
    keyed_units = 0

    def burst(buyer: Api, key: str) -> tuple[list[requests.Response], list[requests.Response]]:
        start = threading.Barrier(12)

        def same_key(_: int) -> requests.Response:
            start.wait(10)
            return place(buyer, (keyed, 1), key=key)

        def racing(i: int) -> requests.Response:
            start.wait(10)
            return place(users[i % len(users)][0], (scarce, 1))

        with ThreadPoolExecutor(12) as pool:
            same = [pool.submit(same_key, i) for i in range(8)]
            races = [pool.submit(racing, i) for i in range(4)]
            return [f.result() for f in same], [f.result() for f in races]

    for round_number in range(6):
        same, raced = burst(users[round_number % len(users)][0], f"burst-{uuid.uuid4().hex}")
        assert {r.status_code for r in same} <= {200, 201} and len({r.json()["order_id"] for r in same}) == 1
        keyed_units += 1
        created[same[0].json()["order_id"]] = 0
        for response in raced:
            assert response.status_code in (201, 409), response.text
            if response.status_code == 201:
                created[response.json()["order_id"]] = 1
    assert sum(created.values()) == 9, "the scarce product sells out exactly"

    def all_paid() -> bool:  # paid; the fulfilment workflow then packs it (PACKED) within a second or so
        return all(admin.call("GET", f"/orders/{order_id}").json()["status"] in ("PAID", "PACKED")
                   for order_id in created)

    poll(all_paid, deadline_s=60, what="every created order to be paid")
    for order_id in created:
        events = admin.call("GET", f"/orders/{order_id}/events?limit=100").json()["items"]
        types = Counter(e["event_type"] for e in events)
        assert (types["OrderPlaced"], types["PaymentSucceeded"]) == (1, 1), (order_id, types)
    user_ids = {user_id for _, user_id in users}
    seen: list[dict] = []

    def settled() -> bool:  # the probe has every PaymentSucceeded of our orders
        seen.extend(drain(devstack, probe))
        return {e["data"].get("order_id") for e in seen if e["event_type"] == "PaymentSucceeded"} >= set(created)

    poll(settled, deadline_s=30, what="the probe to see every payment")
    ours = [e for e in seen if e["data"].get("user_id") in user_ids or e["data"].get("order_id") in created]
    named = {e["data"]["order_id"] for e in ours if "order_id" in e["data"]}
    assert named == set(created), f"events name orders that do not exist: {sorted(named - set(created))}"
    # One OrderPlaced event per created order. The topic may carry an event twice: the fast path's
    # duplicates (docs/performance.md), same event_id, absorbed by every consumer's inbox marker.
    placed = Counter(order_id for order_id, _ in {(e["data"]["order_id"], e["event_id"]) for e in ours
                                                  if e["event_type"] == "OrderPlaced"})
    assert placed == Counter(set(created)), "one OrderPlaced per created order, and only for them"
    assert not [b for b in dlq_bodies(devstack) if any(order_id in b for order_id in created)]
    assert stock_of(admin, scarce) == 0 and stock_of(admin, keyed) == 100 - keyed_units


def test_a_revoked_grant_sends_a_redelivered_payment_result_to_the_dlq(devstack, admin):
    """The grant-removal check on the real path: without dynamodb:GetItem on the inbox, a redelivered
    PaymentSucceeded fails with AccessDeniedException until SQS parks it in the orders DLQ."""
    buyer, _ = shopper(devstack)
    order = place(buyer, (new_product(admin), 1)).json()
    poll(lambda: buyer.call("GET", f"/orders/{order['order_id']}").json()["status"] == "PAID",
         deadline_s=30, what="the order to be paid")
    succeeded = next(e for e in buyer.call("GET", f"/orders/{order['order_id']}/events").json()["items"]
                     if e["event_type"] == "PaymentSucceeded")
    inbox = f"arn:aws:dynamodb:us-east-1:{iam.LOCAL_ACCOUNT}:table/storefront-local-inbox"
    denial = f"access denied apply_payment_results dynamodb:GetItem {inbox}"
    devstack.expected_denials.append(denial)
    original = devstack.policy_file.read_text(encoding="utf-8")
    sqs = devstack.client("sqs")
    try:
        iam.revoke(devstack.policy_file, "apply_payment_results", "dynamodb:GetItem", inbox)
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="storefront-local-orders")["QueueUrl"],
                         MessageBody=json.dumps(succeeded))
        dlq = sqs.get_queue_url(QueueName="storefront-local-orders-dlq")["QueueUrl"]

        def parked() -> bool:
            messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)
            return any(succeeded["event_id"] in m["Body"] for m in messages.get("Messages", []))

        poll(parked, deadline_s=60, interval_s=0.5, what="the redelivery to reach the orders DLQ")
        assert devstack.lines_containing(denial)
        assert any("AccessDeniedException" in line for line in devstack.output)
    finally:
        devstack.policy_file.write_text(original, encoding="utf-8")
    # Still paid (and packed by the fulfilment workflow meanwhile): the denied redelivery changed nothing.
    assert buyer.call("GET", f"/orders/{order['order_id']}").json()["status"] in ("PAID", "PACKED")


# --- S3: presigned uploads are authenticated as S3 does ---------------------------------------------

@pytest.fixture
def upload(devstack, admin) -> dict:
    product = new_product(admin)
    response = admin.call("POST", f"/products/{product['product_id']}/image")
    assert response.status_code == 201, response.text
    return response.json()


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def put(url: str, headers: dict, body: bytes = b"\x89PNG not really") -> requests.Response:
    return requests.put(url, data=body, headers=headers, timeout=10)


def test_a_presigned_upload_works_as_issued(upload):
    assert put(upload["upload_url"], upload["headers"]).status_code == 200


@pytest.mark.parametrize("tamper", ["key", "signature", "expiry", "signed_headers", "content_type", "unsigned"])
def test_a_tampered_presigned_upload_is_refused_like_s3(devstack, upload, tamper):
    url, headers = upload["upload_url"], dict(upload["headers"])
    parts = urlsplit(url)
    if tamper == "key":
        url = urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/other"))
    elif tamper == "signature":
        signature = dict(parse_qsl(parts.query))["X-Amz-Signature"]
        url = with_query(url, **{"X-Amz-Signature": ("0" if signature[0] != "0" else "1") + signature[1:]})
    elif tamper == "expiry":
        url = with_query(url, **{"X-Amz-Expires": "604800"})
    elif tamper == "signed_headers":
        url = with_query(url, **{"X-Amz-SignedHeaders": "host"})
    elif tamper == "content_type":
        headers["Content-Type"] = "text/html"
    elif tamper == "unsigned":
        url = urlunsplit(parts._replace(query=""))
    response = put(url, headers)
    assert response.status_code == 403, (tamper, response.status_code, response.text)
    assert "<Code>" in response.text
    key = urlsplit(url).path.split("/", 2)[-1]
    s3 = devstack.client("s3")
    assert s3.list_objects_v2(Bucket="storefront-local-uploads", Prefix=key).get("KeyCount", 0) == 0


def signed_as(devstack: DevStack, function: str) -> boto3.client:
    """An S3 client presigning as one of the app's functions would (its access key names it)."""
    return boto3.client("s3", endpoint_url=devstack.aws_url, region_name="us-east-1",
                        aws_access_key_id=iam.access_key_of(function), aws_secret_access_key="testing",
                        config=Config(signature_version="s3v4"))


def test_an_expired_presigned_upload_is_refused(devstack):
    url = signed_as(devstack, "api_handler").generate_presigned_url(
        "put_object", Params={"Bucket": "storefront-local-uploads", "Key": f"images/x/{uuid.uuid4().hex}"},
        ExpiresIn=1, HttpMethod="PUT")
    time.sleep(2)  # the only way to let a URL expire is to wait past its expiry
    response = put(url, {})
    assert response.status_code == 403 and "Request has expired" in response.text


def test_a_presigned_upload_needs_the_signers_grant_on_that_key(devstack):
    """The API handler may presign uploads under images/ and imports/ only (deploy/policies.py)."""
    s3 = signed_as(devstack, "api_handler")
    allowed, refused = (s3.generate_presigned_url("put_object", Params={"Bucket": "storefront-local-uploads",
                                                                         "Key": key}, HttpMethod="PUT")
                        for key in (f"imports/{uuid.uuid4().hex}.csv", f"products/{uuid.uuid4().hex}"))
    assert put(allowed, {}).status_code == 200
    denial = "access denied api_handler s3:PutObject arn:aws:s3:::storefront-local-uploads/products/"
    devstack.expected_denials.append(denial)
    response = put(refused, {})
    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text
    poll(lambda: devstack.lines_containing(denial), deadline_s=5, what="the denial line in the stack's output")


# --- API Gateway's edge ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_a_method_the_api_does_not_have_is_a_json_403(devstack, method):
    response = requests.request(method, devstack.url("/health"), timeout=10)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": "Missing Authentication Token"}


def test_an_unknown_path_is_a_json_403(devstack):
    response = requests.get(devstack.url("/no/such/route"), timeout=10)
    assert response.status_code == 403 and response.json() == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("size", [11_000, 100_000])
def test_over_long_headers_are_a_json_4xx(devstack, size):
    response = requests.get(devstack.url("/health"), headers={"X-Padding": "x" * size}, timeout=10)
    assert response.status_code == 431
    assert response.headers["Content-Type"] == "application/json" and "message" in response.json()
    assert requests.get(devstack.url("/health"), timeout=10).status_code == 200
