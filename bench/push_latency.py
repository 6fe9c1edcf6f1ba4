"""Live updates on the dev stack: how soon a client learns that its order is paid, pushed versus
polled, and how many API requests the web app makes per order.

    .venv/bin/python -m bench.push_latency [--orders 50] [--browser-orders 5]

Starts a dev stack of its own on free ports (tests/e2e/conftest.py's `running_devstack`).

1. Commit to frame, for `--orders` orders placed one after another by one shopper: the time from the
   commit that made the order PAID (its `updated_at`, written in that transaction by the orders
   consumer) to the arrival of the PAID order frame on a WebSocket, and, in the same run for the same
   orders, to the first GET /orders/{id} that shows PAID when polling every second (the web app's
   interval before live updates). Median and p95.
2. Requests per order from the web app, in Chromium (skipped without it): every API request the order
   page makes from "Place order" until it shows Paid and 2 s more, for the web app before live updates
   (its orders.js from before this change, served in place of the current one), with its socket up,
   and with its socket down (polling with backoff).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.ws import Socket, order_frame

PASSWORD = "Bench-Passw0rd!"
POLL_SECONDS = 1.0
ROOT = Path(__file__).resolve().parent.parent
# The order page as it was before live updates: it polled GET /orders/{id} and its events every second.
BEFORE_ORDERS_JS = ROOT / "bench" / "fixtures" / "orders-before-live-updates.js"


def _epoch(iso: str) -> float:
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def shopper(api_url: str) -> tuple[str, str]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    requests.post(f"{api_url}/auth/signup", json={"email": email, "password": PASSWORD, "name": "Bench"},
                  timeout=10).raise_for_status()
    login = requests.post(f"{api_url}/auth/login", json={"email": email, "password": PASSWORD}, timeout=10)
    login.raise_for_status()
    return email, login.json()["id_token"]


def product(api_url: str, stock: int) -> str:
    token = requests.post(f"{api_url}/auth/login", json={"email": "admin@example.com",
                                                         "password": "Admin-Passw0rd!"}, timeout=10).json()["id_token"]
    response = requests.post(f"{api_url}/products", timeout=10, headers={"Authorization": f"Bearer {token}"},
                             json={"sku": f"BENCH-{uuid.uuid4().hex[:8]}", "name": "Bench mug", "price_cents": 900,
                                   "stock": stock})
    response.raise_for_status()
    return response.json()["product_id"]


def commit_to_frame(api_url: str, ws_url: str, orders: int) -> tuple[list[float], list[float]]:
    _, token = shopper(api_url)
    product_id = product(api_url, orders + 5)
    headers = {"Authorization": f"Bearer {token}"}
    socket = Socket(ws_url, token)
    pushed, polled = [], []
    try:
        for _ in range(orders):
            placed = requests.post(f"{api_url}/orders", headers=headers, timeout=10, json={
                "items": [{"product_id": product_id, "quantity": 1}], "payment_token": "tok_visa"}).json()
            order_id, seen_paid = placed["order_id"], {}

            def poll(order_id: str = order_id, seen: dict = seen_paid) -> None:
                session = requests.Session()
                while True:
                    order = session.get(f"{api_url}/orders/{order_id}", headers=headers, timeout=10).json()
                    if order["status"] == "PAID":
                        seen["at"] = time.time()
                        return
                    time.sleep(POLL_SECONDS)

            poller = threading.Thread(target=poll)
            poller.start()
            frame = socket.wait_for(order_frame(order_id, "PAID"), 30, f"the PAID frame of {order_id}")
            arrived_monotonic = next(at for at, f in socket.frames if f is frame)
            arrived = time.time() - (time.monotonic() - arrived_monotonic)
            poller.join(30)
            committed = _epoch(frame["order"]["updated_at"])
            pushed.append(arrived - committed)
            polled.append(seen_paid["at"] - committed)
    finally:
        socket.close()
    return pushed, polled


def requests_per_order(devstack, browser_orders: int) -> dict[str, list[int]]:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    web_host = urlsplit(devstack.web_url).netloc  # the web app calls its API on its own origin, under /api
    product_id = product(devstack.api_url, 3 * browser_orders + 5)
    counts: dict[str, list[int]] = {"before (polling every second)": [], "after, socket up": [],
                                    "after, socket down (polling with backoff)": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for mode in counts:
            for _ in range(browser_orders):
                context = browser.new_context(base_url=devstack.web_url)
                page = context.new_page()
                if mode.startswith("before"):
                    page.route("**/js/views/orders.js", lambda route: route.fulfill(
                        content_type="text/javascript", body=BEFORE_ORDERS_JS.read_text()))
                if "down" in mode:
                    page.route("**/config.js", lambda route: route.fulfill(
                        content_type="text/javascript", body="window.STOREFRONT_CONFIG = " + json.dumps(
                            {"apiUrl": "/api", "websocketUrl": "ws://127.0.0.1:9"}) + ";"))
                email, _ = shopper(devstack.api_url)
                page.goto("/#/login")
                page.get_by_label("Email").fill(email)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.get_by_role("button", name="Log out").wait_for()
                page.goto(f"/#/products/{product_id}")
                page.get_by_role("button", name="Add to cart").click()
                page.goto("/#/checkout")
                page.get_by_label("Address", exact=True).fill("1 Bench Road")
                page.get_by_label("City").fill("Benchton")
                page.get_by_label("Postal code").fill("11111")
                seen: list[str] = []
                page.on("request", lambda r, seen=seen: seen.append(f"{r.method} {urlsplit(r.url).path[4:]}")
                        if urlsplit(r.url).netloc == web_host and urlsplit(r.url).path.startswith("/api/") else None)
                page.get_by_role("button", name="Place order").click()
                expect(page.get_by_test_id("order-status").locator("[data-status]")).to_have_attribute(
                    "data-status", "PAID", timeout=30_000)
                page.wait_for_timeout(2000)
                counts[mode].append(len([r for r in seen if not re.fullmatch(r"POST /orders", r)]))
                context.close()
        browser.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--browser-orders", type=int, default=5)
    args = parser.parse_args(argv)
    from tests.e2e.conftest import running_devstack

    with running_devstack() as stack:
        pushed, polled = commit_to_frame(stack.api_url, stack.ws_url, args.orders)
        print(f"commit to client, {args.orders} orders (seconds):")
        print("| path | median | p95 | max |")
        print("|---|---|---|---|")
        for name, values in (("WebSocket frame", pushed), (f"polling every {POLL_SECONDS:g} s", polled)):
            print(f"| {name} | {statistics.median(values):.3f} | {percentile(values, 0.95):.3f} | {max(values):.3f} |")
        if args.browser_orders and Path("/usr/bin/chromium").exists():
            counts = requests_per_order(stack, args.browser_orders)
            print(f"\nAPI requests per order from the web app, besides POST /orders "
                  f"({args.browser_orders} orders each):")
            print("| web app | median | min | max |")
            print("|---|---|---|---|")
            for mode, values in counts.items():
                print(f"| {mode} | {statistics.median(values):g} | {min(values)} | {max(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
