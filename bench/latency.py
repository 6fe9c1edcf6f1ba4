"""Order to PAID on the dev stack, with the fast path (direct publish after commit) on and off.

    .venv/bin/python -m bench.latency [--orders 50]

In one run, two dev stacks of their own on free ports (tests/e2e/conftest.py's `running_devstack`),
one after the other: `STOREFRONT_DIRECT_PUBLISH=on` (the default: each transaction's events are
published by the invocation that committed them, chalicelib/events/direct_publish.py) and `off`
(the baseline: only the outbox stream's publisher). Both poll the outbox stream every
`STOREFRONT_DEV_STREAM_POLL_SECONDS` = 0.25 s while idle, like Lambda's ~4 polls a second.

One shopper places `--orders` orders one after another (`tok_visa`); for each, the time from its
`created_at` to the `updated_at` of the transaction that made it PAID (both written by the app, on
one clock): the API's commit, OrderPlaced to the payments consumer, its PaymentSucceeded to the
orders consumer, its commit. Median and p95. Goal: the fast path's median at most 0.5x stream-only's.

Duplicates: the stream publisher publishes only the events not yet marked published
(publisher.unpublished); with the fast path on and nothing failing, every event it still publishes
was published directly too (it read the stream before the direct publish's mark): counted from its
log lines over the run, per order. Fulfilment is held back (packing after 900 s, no carrier) so
that only the order-to-paid flow runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
import uuid

import requests

from bench.push_latency import percentile, product, shopper

GOAL_RATIO = 0.5
STREAM_POLL_SECONDS = "0.25"
QUIET = {"STOREFRONT_DEV_STREAM_POLL_SECONDS": STREAM_POLL_SECONDS, "STOREFRONT_DEV_PACK_SECONDS": "900",
         "STOREFRONT_DEV_CARRIER_SECONDS": "0", "STOREFRONT_DEV_SCHEDULE_SECONDS": "60",
         "ORDER_PAYMENT_TIMEOUT_MINUTES": "15", "POWERTOOLS_LOG_LEVEL": "INFO"}
MODES = {"fast path (direct publish)": "on", "stream only (baseline)": "off"}


def _epoch(iso: str) -> float:
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def order_to_paid(api_url: str, orders: int) -> list[float]:
    _, token = shopper(api_url)
    product_id = product(api_url, orders + 5)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    seconds = []
    for _ in range(orders):
        placed = session.post(f"{api_url}/orders", timeout=10, headers={"Idempotency-Key": uuid.uuid4().hex}, json={
            "items": [{"product_id": product_id, "quantity": 1}], "payment_token": "tok_visa"})
        placed.raise_for_status()
        order = placed.json()
        deadline = time.monotonic() + 30
        while order["status"] != "PAID":  # only to learn when it is paid; the figure is the app's timestamps
            if time.monotonic() > deadline:
                raise TimeoutError(f"order {order['order_id']} not PAID within 30 s: {order['status']}")
            time.sleep(0.05)
            order = session.get(f"{api_url}/orders/{order['order_id']}", timeout=10).json()
        seconds.append(_epoch(order["updated_at"]) - _epoch(order["created_at"]))
    return seconds


def published_counts(lines: list[str]) -> tuple[int, int]:
    """(events published directly, events the stream publisher published) from the stack's log lines."""
    direct = stream = 0
    for line in lines:
        if not line.startswith("{") or "published events" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == "published events directly":
            direct += record.get("count", 0)
        elif record.get("message") == "published events":
            stream += record.get("count", 0)
    return direct, stream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50)
    args = parser.parse_args(argv)
    from tests.e2e.conftest import running_devstack

    results: dict[str, tuple[list[float], int, int]] = {}
    for mode, setting in MODES.items():
        with running_devstack({**QUIET, "STOREFRONT_DIRECT_PUBLISH": setting}) as stack:
            start = len(stack.output)
            seconds = order_to_paid(stack.api_url, args.orders)
            time.sleep(1)  # the stream's last polls of the run (for the duplicate count)
            direct, stream = published_counts(list(stack.output)[start:])
            results[mode] = (seconds, direct, stream)
    print(f"order -> PAID, {args.orders} orders one after another, stream polled every {STREAM_POLL_SECONDS} s "
          "(seconds):")
    print("| path | median | p95 | max | events published directly | by the stream | duplicates per order |")
    print("|---|---|---|---|---|---|---|")
    for mode, (seconds, direct, stream) in results.items():
        duplicates = f"{stream / args.orders:.2f}" if direct else "-"
        print(f"| {mode} | {statistics.median(seconds):.3f} | {percentile(seconds, 0.95):.3f} | {max(seconds):.3f} "
              f"| {direct} | {stream} | {duplicates} |")
    fast, slow = (statistics.median(results[mode][0]) for mode in MODES)
    ratio = fast / slow
    print(f"\nratio fast / stream-only (median): {ratio:.2f}x   goal <= {GOAL_RATIO}x   "
          f"{'OK' if ratio <= GOAL_RATIO else 'ABOVE GOAL'}")
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
