"""Load on the dev stack: a fixed number of requests of a realistic mix (browse, order, pay), from a
thread pool, reporting throughput, p50/p99 latency and errors (which must be 0).

    .venv/bin/python -m bench.load [--sessions 100] [--threads 8] [--api-url http://127.0.0.1:8000]

Without --api-url it starts a dev stack of its own on free ports. One shopping session is six
requests: list products, view two products, place an order (tok_visa), read it, list my orders.
Every order must then be paid by the event flow (OrderPlaced -> payments -> PaymentSucceeded ->
orders). The baseline is the same number of `GET /health` requests at the same concurrency: what
`chalice local` itself costs per request on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from chalicelib.orders.statuses import DELIVERED, PACKED, PAID, SHIPPED

PASSWORD = "Loadtest-Passw0rd!"
# Paid, or already further on: the warehouse packs a paid order within seconds, before a sweep sees it PAID.
PAID_OR_LATER = (PAID, PACKED, SHIPPED, DELIVERED)


@dataclass
class Recorder:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def call(self, session: requests.Session, method: str, url: str, expect: int, **kw) -> requests.Response:
        started = time.perf_counter()
        response = session.request(method, url, timeout=30, **kw)
        self.latencies.append(time.perf_counter() - started)
        if response.status_code != expect:
            self.errors.append(f"{method} {url} -> {response.status_code} {response.text[:200]}")
        return response


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def headers(token: str | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}


def setup(api: str, shoppers: int) -> tuple[list[str], list[str]]:
    post = requests.post
    admin = post(f"{api}/auth/login", headers=headers(), timeout=30, data=json.dumps(
        {"email": "admin@example.com", "password": "Admin-Passw0rd!"})).json()["id_token"]
    products = [post(f"{api}/products", headers=headers(admin), timeout=30, data=json.dumps({
        "sku": f"LOAD-{uuid.uuid4().hex[:8]}", "name": f"Load item {i}", "price_cents": 500 + i,
        "stock": 100_000, "category": "load"})).json()["product_id"] for i in range(5)]
    tokens = []
    for _ in range(shoppers):
        email = f"load-{uuid.uuid4().hex[:8]}@example.com"
        post(f"{api}/auth/signup", headers=headers(), timeout=30,
             data=json.dumps({"email": email, "password": PASSWORD, "name": "Load"})).raise_for_status()
        tokens.append(post(f"{api}/auth/login", headers=headers(), timeout=30, data=json.dumps(
            {"email": email, "password": PASSWORD})).json()["id_token"])
    return products, tokens


def shopping_session(api: str, i: int, products: list[str], tokens: list[str],
                     rec: Recorder) -> tuple[str, str] | None:
    s, token = requests.Session(), tokens[i % len(tokens)]
    rec.call(s, "GET", f"{api}/products?limit=20", 200)
    first, second = products[i % len(products)], products[(i + 1) % len(products)]
    rec.call(s, "GET", f"{api}/products/{first}", 200)
    rec.call(s, "GET", f"{api}/products/{second}", 200)
    placed = rec.call(s, "POST", f"{api}/orders", 201, headers=headers(token), data=json.dumps(
        {"items": [{"product_id": first, "quantity": 1}], "payment_token": "tok_visa"}))
    order_id = placed.json().get("order_id") if placed.status_code == 201 else None
    if order_id:
        rec.call(s, "GET", f"{api}/orders/{order_id}", 200, headers=headers(token))
    rec.call(s, "GET", f"{api}/orders", 200, headers=headers(token))
    return (order_id, token) if order_id else None


def run(api: str, sessions: int, threads: int) -> int:
    products, tokens = setup(api, shoppers=threads)
    baseline = Recorder()
    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: baseline.call(requests.Session(), "GET", f"{api}/health", 200), range(sessions * 6)))
        baseline_s = time.perf_counter() - started
    mix = Recorder()
    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        order_ids = [o for o in pool.map(lambda i: shopping_session(api, i, products, tokens, mix), range(sessions))
                     if o]
        mix_s = time.perf_counter() - started
    paid_deadline, unpaid = time.monotonic() + 120, dict(order_ids)
    while unpaid and time.monotonic() < paid_deadline:
        for order_id, token in list(unpaid.items()):
            order = requests.get(f"{api}/orders/{order_id}", headers=headers(token), timeout=30)
            if order.status_code == 200 and order.json()["status"] in PAID_OR_LATER:
                del unpaid[order_id]
        time.sleep(0.5)  # between sweeps over the orders still unpaid (a poll with a deadline)
    pay_s = time.perf_counter() - started

    def line(name: str, rec: Recorder, seconds: float) -> str:
        return (f"  {name:<26} {len(rec.latencies):>6} req  {len(rec.latencies) / seconds:>7.1f} req/s  "
                f"p50 {statistics.median(rec.latencies) * 1000:6.1f} ms  "
                f"p99 {percentile(rec.latencies, .99) * 1000:6.1f} ms  errors {len(rec.errors)}")

    print(f"dev stack {api}, {threads} threads")
    print(line("baseline GET /health", baseline, baseline_s))
    print(line("mix browse/order/pay", mix, mix_s))
    print(f"  orders placed {len(order_ids)}, paid by the event flow {len(order_ids) - len(unpaid)} "
          f"(all paid {pay_s:.1f} s after the mix started)")
    ratio = (len(mix.latencies) / mix_s) / (len(baseline.latencies) / baseline_s)
    print(f"  throughput ratio mix / baseline: {ratio:.2f}")
    for error in (baseline.errors + mix.errors)[:10]:
        print("  ERROR", error)
    return 1 if baseline.errors or mix.errors or unpaid else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--api-url")
    args = parser.parse_args(argv)
    if args.api_url:
        return run(args.api_url.rstrip("/"), args.sessions, args.threads)
    from tests.e2e.conftest import running_devstack

    # The deployed stages' payment timeout (settings.py's default), not the test stack's 12 s: under this
    # load an order waits longer than 12 s for its payment, and the unpaid-order sweep would cancel it.
    with running_devstack({"ORDER_PAYMENT_TIMEOUT_MINUTES": "15"}) as stack:
        return run(stack.api_url, args.sessions, args.threads)


if __name__ == "__main__":
    sys.exit(main())
