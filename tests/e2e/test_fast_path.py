"""The fast path (chalicelib/events/direct_publish.py) on the real dev stack: a committing invocation
publishes its events itself; when it cannot, the request still succeeds and the stream publishes."""

from __future__ import annotations

import uuid

import pytest

from devstack import iam
from tests.e2e.conftest import poll, running_devstack
from tests.e2e.test_order_saga import PASSWORD, Api, log_in, new_product, place, timeline, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def shopper(stack) -> Api:
    email = f"fast-{uuid.uuid4().hex[:8]}@example.com"
    assert Api(stack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Fast"}).ok
    return log_in(stack, email, PASSWORD)


def test_with_the_stream_publisher_stopped_the_fast_path_alone_pays_an_order():
    """The stream is polled once at start and then not for an hour: only direct publishes move the order."""
    with running_devstack({"STOREFRONT_DEV_STREAM_POLL_SECONDS": "3600"}) as stack:
        admin = log_in(stack, "admin@example.com", "Admin-Passw0rd!")
        buyer = shopper(stack)
        stream_lines = len(stack.lines_containing("delivery dynamodb publish_outbox"))
        placed = place(buyer, (new_product(admin), 1))
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        wait_for_status(buyer, order_id, "PAID")
        payment = buyer.call("GET", f"/orders/{order_id}/payment").json()
        assert payment["status"] == "SUCCEEDED" and payment["amount_cents"] == placed.json()["total_cents"]
        assert len(stack.lines_containing("delivery dynamodb publish_outbox")) == stream_lines
        assert stack.lines_containing("published events directly")
        # The fast path wrote the audit log (the order's timeline) before it published, once per event.
        poll(lambda: "PaymentSucceeded" in timeline(buyer, order_id), what="the timeline")
        assert timeline(buyer, order_id).count("OrderPlaced") == 1


def test_a_direct_publish_the_role_may_not_make_fails_nothing_and_the_stream_publishes(devstack):
    """Without sns:Publish for the API (an operator's mistake, or the topic unreachable) the order is
    still placed (201) and still paid: the outbox stream's publisher publishes it, exactly once."""
    admin = log_in(devstack, "admin@example.com", "Admin-Passw0rd!")
    buyer, mug = shopper(devstack), new_product(admin)
    topic = f"arn:aws:sns:us-east-1:{iam.LOCAL_ACCOUNT}:storefront-local-events"
    denial = f"access denied api_handler sns:Publish {topic}"
    devstack.expected_denials.append(denial)
    original = devstack.policy_file.read_text(encoding="utf-8")
    try:
        iam.revoke(devstack.policy_file, "api_handler", "sns:Publish", topic)
        placed = place(buyer, (mug, 1))
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
        assert poll(lambda: devstack.lines_containing(denial), what="the denied direct publish")
    finally:
        devstack.policy_file.write_text(original, encoding="utf-8")
    assert devstack.lines_containing("direct publish failed; the outbox stream publishes instead")
    wait_for_status(buyer, order_id, "PAID")
    poll(lambda: "PaymentSucceeded" in timeline(buyer, order_id), what="the timeline")
    assert timeline(buyer, order_id).count("OrderPlaced") == 1
