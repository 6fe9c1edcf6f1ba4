"""Fulfilment in a real browser: the admin ships a packed order from "Orders to ship" with a carrier
and tracking number; the customer sees it packed, shipped and delivered (the dev stack's carrier
simulator reports delivery 2 s after shipping)."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN, PASSWORD, api_token, create_product, log_in, screenshot
from tests.e2e.conftest import poll

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
DELIVERY_MS = 30_000


def packed_order(devstack, admin_token: str) -> tuple[str, str]:
    """A customer (email) and their order, placed and paid through the API, once the warehouse packed it."""
    email = f"ship-{uuid.uuid4().hex[:8]}@example.com"
    signup = requests.post(devstack.url("/auth/signup"), json={"email": email, "password": PASSWORD, "name": "Pat"},
                           timeout=10)
    assert signup.status_code == 201, signup.text
    headers = {"Authorization": f"Bearer {api_token(devstack, email, PASSWORD)}"}
    product = create_product(devstack, admin_token, name="Shipping Crate")
    order = requests.post(devstack.url("/orders"), headers=headers, timeout=10, json={
        "items": [{"product_id": product["product_id"], "quantity": 1}], "payment_token": "tok_visa"}).json()
    poll(lambda: requests.get(devstack.url(f"/orders/{order['order_id']}"), headers=headers, timeout=10)
         .json()["status"] == "PACKED", deadline_s=30, what="the order to be packed")
    return email, order["order_id"]


def test_the_admin_ships_an_order_and_the_customer_sees_it_delivered(page, devstack, admin_token):
    email, order_id = packed_order(devstack, admin_token)
    tracking = f"WEB-{int(time.time())}"
    log_in(page, *ADMIN)
    page.goto("/#/admin/orders")
    to_ship = page.get_by_test_id("orders-to-ship")
    expect(to_ship.get_by_role("heading", name="Orders to ship")).to_be_visible()
    row = to_ship.locator(f'.order-row[data-order-id="{order_id}"]')
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "PACKED")
    expect(row.get_by_label("Carrier")).to_have_value("Storefront Post")
    row.get_by_label("Tracking number").fill(tracking)
    screenshot(page, "admin-orders-to-ship")
    row.get_by_role("button", name="Ship").click()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "SHIPPED")
    expect(row.get_by_test_id("shipment")).to_have_text(f"Shipped with Storefront Post, tracking number {tracking}")

    page.get_by_role("button", name="Log out").click()
    log_in(page, email, PASSWORD)
    page.goto(f"/#/orders/{order_id}")
    status = page.get_by_test_id("order-status").locator("[data-status]")
    expect(status).to_have_attribute("data-status", "DELIVERED", timeout=DELIVERY_MS)
    expect(status).to_have_text("Delivered")
    expect(page.get_by_test_id("shipment")).to_contain_text(tracking)
    for event_type in ("OrderPacked", "OrderShipped", "OrderDelivered"):
        expect(page.locator(f"[data-event-type={event_type}]")).to_be_visible()
    fulfilment = page.get_by_test_id("fulfilment")
    for step in ("pack", "ship", "deliver"):
        expect(fulfilment.locator(f'[data-step="{step}"] [data-status]')).to_have_attribute("data-status", "DONE")
    expect(page.get_by_role("button", name="Cancel and refund")).to_have_count(0)  # delivered: nothing to cancel
    screenshot(page, "order-delivered")


def test_the_admin_finds_orders_by_status_with_short_ids_that_open_the_order(page, devstack, admin_token):
    _email, order_id = packed_order(devstack, admin_token)
    log_in(page, *ADMIN)
    page.goto("/#/admin/orders")
    statuses = page.get_by_role("navigation", name="Order status")
    expect(statuses.get_by_role("link", name="To ship")).to_have_attribute("aria-current", "page")
    statuses.get_by_role("link", name="All").click()
    listed = page.get_by_test_id("orders-to-ship")
    expect(listed).to_have_attribute("data-status", "")
    row = listed.locator(f'.order-row[data-order-id="{order_id}"]')
    link = row.get_by_role("link", name=f"Order {order_id[:8]}")
    expect(link).to_be_visible()
    expect(listed).not_to_contain_text(order_id)  # the full id is never shown
    statuses.get_by_role("link", name="Paid").click()
    expect(listed.locator(f'.order-row[data-order-id="{order_id}"]')).to_have_count(0)  # packed, not paid
    statuses.get_by_role("link", name="To ship").click()
    listed.locator(f'.order-row[data-order-id="{order_id}"]').get_by_role("link", name=f"Order {order_id[:8]}").click()
    expect(page.get_by_role("heading", name=f"Order {order_id[:8]}")).to_be_visible()
    expect(page.get_by_role("button", name="Ship")).to_be_visible()  # a packed order's page ships it too
