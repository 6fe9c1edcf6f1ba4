"""Live updates in a real browser: the web app follows pushed frames while its WebSocket is up (no
polling requests), and polls with backoff when the socket cannot connect."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import pytest
import requests as http_requests
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN, add_to_cart, create_product, log_in, sign_up, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SAGA_MS = 30_000


class Requests:
    """The page's requests to the API (on the web app's own origin, under /api), with when each was sent."""

    def __init__(self, page, web_url: str) -> None:
        self.seen: list[tuple[float, str, str]] = []
        web = urlsplit(web_url).netloc

        def record(request) -> None:
            url = urlsplit(request.url)
            if url.netloc == web and url.path.startswith("/api/"):
                self.seen.append((time.monotonic(), request.method, url.path[len("/api"):]))

        page.on("request", record)

    def times(self, method: str, pattern: str) -> list[float]:
        return [at for at, m, path in self.seen if m == method and re.fullmatch(pattern, path)]


def order_status(page):
    return page.get_by_test_id("order-status").locator("[data-status]")


def check_out(page) -> str:
    page.goto("/#/checkout")
    page.get_by_label("Address", exact=True).fill("5 Socket Street")
    page.get_by_label("City").fill("Liveville")
    page.get_by_label("Postal code").fill("10101")
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"#/orders/\w+"))
    return page.url.rsplit("/", 1)[1]


def shoppers_order(page, devstack, admin_token, name: str) -> tuple[dict, str]:
    """A new product `name`, bought by a shopper who signs up for it: (the product, the order id)."""
    product = create_product(devstack, admin_token, name=name)
    sign_up(page)
    add_to_cart(page, product["product_id"])
    return product, check_out(page)


def test_the_order_page_reaches_paid_from_pushes_with_no_polling_request(page, devstack, admin_token):
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    requests = Requests(page, devstack.web_url)
    product, order_id = shoppers_order(page, devstack, admin_token, "Live Kettle")
    expect(order_status(page)).to_have_attribute("data-status", "PAID", timeout=SAGA_MS)
    expect(page.get_by_text("Payment succeeded: $15.00")).to_be_visible()
    expect(page.locator("[data-event-type=PaymentSucceeded]")).to_be_visible()
    assert any(f.get("type") == "order" and f["order"]["order_id"] == order_id and f["order"]["status"] == "PAID"
               for f in frames)
    page.wait_for_timeout(1500)  # time in which a polling page would have asked again
    assert len(requests.times("GET", f"/orders/{order_id}")) == 1, requests.seen  # the first load only
    # Packed by the warehouse, pushed: the steps are read again, the payment (unchanged) is not.
    expect(order_status(page)).to_have_attribute("data-status", "PACKED", timeout=SAGA_MS)
    expect(page.get_by_test_id("fulfilment").locator("[data-step=pack]")).to_contain_text("Done")
    assert len(requests.times("GET", f"/orders/{order_id}/payment")) == 1, requests.seen
    assert len(requests.times("GET", f"/orders/{order_id}/fulfilment")) == 2, requests.seen  # PAID, PACKED
    expect(page.get_by_test_id("notifications-badge")).to_be_visible()  # pushed notifications, counted

    page.get_by_role("button", name="Cancel and refund").click()  # no reload from here on
    page.get_by_role("button", name="Yes, cancel and refund").click()
    expect(order_status(page)).to_have_attribute("data-status", "CANCELLED", timeout=SAGA_MS)
    expect(page.get_by_text("Payment refunded: $15.00")).to_be_visible(timeout=SAGA_MS)
    expect(page.locator("[data-event-type=PaymentRefunded]")).to_be_visible()
    expect(page.locator("[data-event-type=OrderCancelled]")).to_be_visible()
    assert len(requests.times("GET", f"/orders/{order_id}")) == 1

    page.get_by_role("link", name=re.compile("^Notifications")).click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.get_by_test_id("notifications-badge")).to_have_count(0)


def test_polling_with_backoff_takes_over_when_the_socket_is_down(page, devstack, admin_token):
    # The socket's endpoint refuses connections: config.js names a port nothing listens on.
    page.route("**/config.js", lambda route: route.fulfill(
        content_type="text/javascript", body="window.STOREFRONT_CONFIG = " + json.dumps(
            {"apiUrl": "/api", "websocketUrl": "ws://127.0.0.1:9"}) + ";"))
    attempts: list[float] = []
    page.on("websocket", lambda ws: attempts.append(time.monotonic()))
    requests = Requests(page, devstack.web_url)
    product, order_id = shoppers_order(page, devstack, admin_token, "Polled Kettle")
    # The order may be PAID by the first load (the fast path); the warehouse packs it seconds later, and
    # only a poll can show that without the socket.
    expect(order_status(page)).to_have_attribute("data-status", "PACKED", timeout=SAGA_MS)
    assert len(requests.times("GET", f"/orders/{order_id}")) >= 2, requests.seen  # polled until packed

    # An order whose payment provider is down stays pending until the sweep cancels it (about 12 s on
    # the test stack): long enough to see the polls spread out.
    token = page.evaluate("JSON.parse(localStorage.getItem('storefront.session')).tokens.id_token")
    stuck = http_requests.post(devstack.url("/orders"), timeout=10, headers={"Authorization": f"Bearer {token}"},
                               json={"items": [{"product_id": product["product_id"], "quantity": 1}],
                                     "payment_token": "tok_unavailable"}).json()["order_id"]
    page.goto(f"/#/orders/{stuck}")
    expect(order_status(page)).to_have_attribute("data-status", "CANCELLED", timeout=SAGA_MS)
    loads = requests.times("GET", f"/orders/{stuck}")
    gaps = [b - a for a, b in zip(loads, loads[1:], strict=False)]
    assert len(gaps) >= 3, gaps
    assert all(later >= earlier * 1.5 for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps  # backoff
    assert len(attempts) >= 2  # and it keeps trying to reconnect


def test_the_admin_import_report_follows_pushed_progress(page, devstack, admin_token):
    requests = Requests(page, devstack.web_url)
    sku = unique("LIVE").upper()
    csv = "sku,name,description,price_cents,currency,category,stock\n" + "".join(
        f"{sku}-{i},Live import {i},,900,USD,live,3\n" for i in range(3))
    log_in(page, *ADMIN)
    page.goto("/#/admin/imports")
    page.get_by_label("Catalog file (.csv or .jsonl)").set_input_files(
        {"name": "live.csv", "mimeType": "text/csv", "buffer": csv.encode()})
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_test_id("import-report")).to_have_attribute("data-status", "COMPLETED", timeout=SAGA_MS)
    expect(page.get_by_test_id("rows-imported")).to_have_text("3")
    assert len(requests.times("GET", r"/imports/[0-9a-f]+")) == 1, requests.seen  # the rest came pushed


def test_the_orders_list_shows_a_new_order_and_its_payment_from_pushes(page, devstack, admin_token):
    requests = Requests(page, devstack.web_url)
    product = create_product(devstack, admin_token, name="Listed Kettle")
    sign_up(page)
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_text("No orders yet.")).to_be_visible()
    token = page.evaluate("JSON.parse(localStorage.getItem('storefront.session')).tokens.id_token")
    placed = http_requests.post(devstack.url("/orders"), timeout=10, headers={"Authorization": f"Bearer {token}"},
                                json={"items": [{"product_id": product["product_id"], "quantity": 1}],
                                      "payment_token": "tok_visa"}).json()  # from another client
    row = page.locator(f'.order-row[data-order-id="{placed["order_id"]}"]')
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "PAID", timeout=SAGA_MS)
    expect(page.get_by_text("No orders yet.")).to_have_count(0)
    assert len(requests.times("GET", "/orders")) == 1, requests.seen  # the list was never fetched again


def test_a_notification_pushed_while_the_notifications_page_loads_is_shown_not_counted_unseen(
        page, devstack, admin_token):
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    product = create_product(devstack, admin_token, name="Held Kettle")
    sign_up(page)
    held: list = []  # the page's first load of its notifications, answered only once a push has come
    page.route("**/api/notifications?*", lambda route: held.append(route))
    page.get_by_role("link", name=re.compile("^Notifications")).click()
    poll_until(page, lambda: held)

    token = page.evaluate("JSON.parse(localStorage.getItem('storefront.session')).tokens.id_token")
    placed = http_requests.post(devstack.url("/orders"), timeout=10, headers={"Authorization": f"Bearer {token}"},
                                json={"items": [{"product_id": product["product_id"], "quantity": 1}],
                                      "payment_token": "tok_visa"})
    assert placed.status_code == 201, placed.text
    poll_until(page, lambda: any(f.get("type") == "notification" for f in frames))
    held[0].continue_()

    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.locator(".notification").first).to_be_visible()
    expect(page.get_by_test_id("notifications-badge")).to_have_count(0)


def poll_until(page, condition, timeout_s: float = SAGA_MS / 1000) -> None:
    """Let the page run (its routes and sockets are served meanwhile) until `condition()` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(50)


def test_a_late_older_order_frame_never_takes_the_page_back_and_costs_no_request(page, devstack, admin_token):
    sockets: list = []  # the app's socket, passed through to the gateway; the test adds one frame of its own

    def pass_through(ws) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r"^ws://.*"), pass_through)
    requests = Requests(page, devstack.web_url)
    product, order_id = shoppers_order(page, devstack, admin_token, "Late Kettle")
    expect(order_status(page)).to_have_attribute("data-status", "PACKED", timeout=SAGA_MS)
    token = page.evaluate("JSON.parse(localStorage.getItem('storefront.session')).tokens.id_token")
    order = http_requests.get(devstack.url(f"/orders/{order_id}"), timeout=10,
                              headers={"Authorization": f"Bearer {token}"}).json()
    assert order["status"] == "PACKED"
    seen = len(requests.seen)
    # The PAID snapshot, delivered after the PACKED one (queues do not keep order).
    sockets[-1].send(json.dumps({"type": "order", "order": {**order, "status": "PAID",
                                                             "updated_at": "2000-01-01T00:00:00.000Z"}}))
    page.wait_for_timeout(1000)  # time in which the page would have shown it and read the timeline
    expect(order_status(page)).to_have_attribute("data-status", "PACKED")
    assert requests.seen[seen:] == []

    page.get_by_role("link", name="Orders", exact=True).click()  # the list follows the same rule
    row = page.locator(f'.order-row[data-order-id="{order_id}"] [data-status]')
    expect(row).to_have_attribute("data-status", "PACKED")
    sockets[-1].send(json.dumps({"type": "order", "order": {**order, "status": "PAID",
                                                             "updated_at": "2000-01-01T00:00:00.000Z"}}))
    page.wait_for_timeout(1000)
    expect(row).to_have_attribute("data-status", "PACKED")
