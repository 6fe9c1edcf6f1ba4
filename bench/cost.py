"""Cost per order: the billable units of the happy path, counted from the calls really made, in dollars
per million orders next to the floor design.

    .venv/bin/python -m bench.cost [--orders 5]

Starts a dev stack of its own (tests/e2e/conftest.py's `running_devstack`) with its meter on
(devstack/metering.py: every AWS call each function makes with the DynamoDB units it consumed, each
invocation and its in-process milliseconds, each app log line's bytes). Then `--orders` times, one
shopper with the order page's WebSocket open: one list page, three product views, an order with an
`Idempotency-Key`, the order page's requests (the order and its timeline; on the PAID frame, the
timeline and the payment: what the web app sends, docs/performance.md), the payment, notifications
and audit by the event flow, packing by the warehouse simulator, the admin's ship, the carrier's
DELIVERED webhook (the carrier simulator), until the DELIVERED frame and the stack is quiet.

Per order, from the meter (bench/cost_model.py turns units into dollars):
- API Gateway: REST requests (every request the API handler served); WebSocket messages (frames
  posted, 32 KB steps) and one connection minute.
- Lambda: requests at design load (a queue consumer's batch holds `batch_size` messages, the stream
  publisher's 100 records: events / batch size; API, WebSocket and SNS-invoked functions one each;
  the authorizer once per token and 5 minutes, so once per order); duration from the in-process
  milliseconds at each function's memory and architecture (.chalice/config.json, stage prod).
- DynamoDB: read and write units (devstack/metering.py), index writes included.
- SNS publishes (64 KB steps); SQS: each message's send (by SNS, Step Functions or the app), and per
  batch one receive and one delete; SES emails; Step Functions transitions (the order's execution
  history); CloudWatch Logs bytes at the deployed log levels; X-Ray traces at the sampling rate.
Scheduled functions (the relay, the unpaid-order sweep) cost per minute, not per order: left out.

Exits 1 when the total without email is above 1.2x the floor's (bench/cost_model.py FLOOR).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from bench import cost_model
from bench.push_latency import PASSWORD
from tests.ws import Socket, order_frame

SCHEDULED = {"relay_outbox", "cancel_unpaid_orders"}
QUIET_SECONDS = 2.0
STACK = {"STOREFRONT_DEV_PACK_SECONDS": "1", "STOREFRONT_DEV_CARRIER_SECONDS": "1",
         "STOREFRONT_DEV_SCHEDULE_SECONDS": "3600", "ORDER_PAYMENT_TIMEOUT_MINUTES": "15",
         "POWERTOOLS_LOG_LEVEL": "INFO"}


def _session(api_url: str, email: str, password: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    token = session.post(f"{api_url}/auth/login", json={"email": email, "password": password},
                         timeout=10).json()["id_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session, token


def _ok(response: requests.Response) -> dict:
    response.raise_for_status()
    return response.json() if response.content else {}


def happy_path(api_url: str, ws_url: str, orders: int) -> tuple[float, list[str]]:
    """Run the journey `orders` times; (when the measured window started, the order ids)."""
    email = f"cost-{uuid.uuid4().hex[:8]}@example.com"
    _ok(requests.post(f"{api_url}/auth/signup", json={"email": email, "password": PASSWORD, "name": "Cost"},
                      timeout=10))
    shopper, token = _session(api_url, email, PASSWORD)
    admin, _ = _session(api_url, "admin@example.com", "Admin-Passw0rd!")
    products = [_ok(admin.post(f"{api_url}/products", timeout=10, json={
        "sku": f"COST-{uuid.uuid4().hex[:8]}", "name": f"Cost mug {i}", "price_cents": 1200 + i, "stock": 1000,
        "category": "cost"}))["product_id"] for i in range(3)]
    time.sleep(QUIET_SECONDS)  # the products' events settle before the window opens
    started, order_ids = time.time(), []
    for _ in range(orders):
        socket = Socket(ws_url, token)  # the order page's live updates
        try:
            _ok(shopper.get(f"{api_url}/products?limit=20", timeout=10))
            for product_id in products:
                _ok(shopper.get(f"{api_url}/products/{product_id}", timeout=10))
            order = _ok(shopper.post(f"{api_url}/orders", timeout=10, headers={"Idempotency-Key": uuid.uuid4().hex},
                                     json={"items": [{"product_id": products[0], "quantity": 1}],
                                           "payment_token": "tok_visa"}))
            order_id = order["order_id"]
            order_ids.append(order_id)
            _ok(shopper.get(f"{api_url}/orders/{order_id}", timeout=10))
            _ok(shopper.get(f"{api_url}/orders/{order_id}/events", timeout=10))
            socket.wait_for(order_frame(order_id, "PAID"), 30, "the PAID frame")
            _ok(shopper.get(f"{api_url}/orders/{order_id}/events", timeout=10))
            _ok(shopper.get(f"{api_url}/orders/{order_id}/payment", timeout=10))
            socket.wait_for(order_frame(order_id, "PACKED"), 30, "the PACKED frame")
            _ok(admin.post(f"{api_url}/orders/{order_id}/ship", timeout=10, json={
                "carrier": "Storefront Post", "tracking_number": f"COST-{uuid.uuid4().hex[:10]}"}))
            socket.wait_for(order_frame(order_id, "DELIVERED"), 30, "the DELIVERED frame")
        finally:
            socket.close()
    return started, order_ids


def read_meter(directory: Path, since: float) -> list[dict]:
    entries = []
    for path in directory.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["at"] >= since and entry.get("function") not in SCHEDULED:
                entries.append(entry)
    return entries


def wait_until_quiet(directory: Path, deadline_s: float = 60) -> None:
    deadline, last = time.monotonic() + deadline_s, None
    while time.monotonic() < deadline:
        sizes = tuple(sorted((p.name, p.stat().st_size) for p in directory.glob("*.jsonl")))
        if sizes == last:
            return
        last = sizes
        time.sleep(QUIET_SECONDS)


def transitions(stack, order_ids: list[str]) -> int:
    sfn = stack.client("stepfunctions")
    machine = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                   if m["name"].endswith("-fulfilment"))
    total = 0
    for order_id in order_ids:
        arn = machine.replace(":stateMachine:", ":execution:") + f":{order_id}"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        total += sum(1 for e in events if e["type"].endswith("StateEntered"))
    return total


def units_per_order(entries: list[dict], orders: int, transitions_total: int) -> cost_model.Units:
    """Sum the meter's lines into the units one order costs at design load (see the module docstring)."""
    batch_sizes = cost_model.batch_sizes()
    invocations: Counter[str] = Counter()
    records: Counter[str] = Counter()
    gb_seconds: Counter[str] = Counter()
    sqs_messages = sqs_batches = 0
    authorizer = 0
    ms: list[float] = []
    for entry in entries:
        if entry["kind"] != "invocation":
            continue
        function, source = entry["function"], entry["source"]
        if source != "authorizer":
            ms.append(entry["ms"])
        mb, arch = cost_model.memory_and_architecture(function)
        gb_seconds[arch] += entry["ms"] / 1000 * mb / 1024
        if source == "authorizer":
            authorizer += 1
            continue
        invocations[function] += 1
        records[function] += entry.get("records", 1)
        if source == "sqs":
            sqs_messages += entry.get("records", 1)
            sqs_batches += 1
    lambda_requests = 0.0
    for function, count in invocations.items():
        size = batch_sizes.get(function)
        lambda_requests += records[function] / size if size else count
    lambda_requests += min(authorizer, orders)  # its answer is cached per token for 5 minutes
    calls = [e for e in entries if e["kind"] == "call"]
    total = Counter()
    for call in calls:
        for name in ("rru", "wru", "gsi_wru"):
            total[name] += call.get(name, 0.0)
        if call["service"] == "sns":
            total["sns"] += call.get("requests", 0)
        if call["service"] == "sqs":
            total["sqs"] += call.get("requests", 0)
        total["emails"] += call.get("emails", 0)
        total["ws_messages"] += call.get("messages", 0)
    api = sum(1 for e in entries if e["kind"] == "invocation" and e["source"] == "api")
    # At design load a consumer's batch is full: one receive and one delete per `batch_size` messages.
    sqs = total["sqs"] + sqs_messages + 2 * sum(records[f] / batch_sizes.get(f, 10)
                                                for f in invocations if f in batch_sizes and f != "publish_outbox")
    logs_info = sum(e["bytes"] for e in entries if e["kind"] == "log")
    logs_deployed = sum(e["bytes"] for e in entries if e["kind"] == "log"
                        and cost_model.LEVELS[e["level"]] >= cost_model.LEVELS[cost_model.APPLICATION_LOG_LEVEL])
    all_invocations = sum(invocations.values()) + authorizer
    platform = 0 if cost_model.SYSTEM_LOG_LEVEL == "WARN" else all_invocations * cost_model.PLATFORM_LOG_BYTES
    traces = (api + sum(invocations[f] for f in invocations if f not in ("api_handler",))) * cost_model.XRAY_RATE
    return cost_model.Units(
        api_requests=api / orders, ws_messages=total["ws_messages"] / orders, ws_minutes=1.0,
        lambda_requests=lambda_requests / orders, lambda_gb_seconds_x86=gb_seconds["x86_64"] / orders,
        lambda_gb_seconds_arm=gb_seconds["arm64"] / orders,
        rru=total["rru"] / orders, wru=(total["wru"] + total["gsi_wru"]) / orders,
        sns=total["sns"] / orders, sqs=sqs / orders, emails=total["emails"] / orders,
        access_log_bytes=api * cost_model.ACCESS_LOG_BYTES / orders,
        median_invocation_ms=statistics.median(ms) if ms else 0.0,
        transitions=transitions_total / orders, log_bytes=(logs_deployed + platform) / orders,
        traces=traces / orders,
        log_bytes_at_info=(logs_info + all_invocations * cost_model.PLATFORM_LOG_BYTES) / orders,
        by_function={f: invocations[f] / orders for f in sorted(invocations)})


def print_by_function(entries: list[dict], orders: int) -> None:
    """Where the units go: per function, per order (before batching), and its calls."""
    rows: dict[str, Counter] = {}
    for entry in entries:
        row = rows.setdefault(entry.get("function", "-"), Counter())
        if entry["kind"] == "invocation":
            row["invocations"] += 1
            row["ms"] += entry["ms"]
        elif entry["kind"] == "call":
            for name in ("rru", "wru", "gsi_wru"):
                row[name] += entry.get(name, 0.0)
            row[f"{entry['service']}.{entry['operation']}"] += 1
    print("\nper function, per order: invocations, ms, RRU, WRU (+ index WRU), calls")
    for function, row in sorted(rows.items()):
        calls = ", ".join(f"{k} {v / orders:g}" for k, v in sorted(row.items()) if "." in k)
        per = {name: row[name] / orders for name in ("invocations", "ms", "rru", "wru", "gsi_wru")}
        print(f"  {function:<26} {per['invocations']:5.1f} inv {per['ms']:7.0f} ms {per['rru']:6.1f} RRU "
              f"{per['wru']:6.1f} WRU (+{per['gsi_wru']:.1f})  {calls}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5)
    args = parser.parse_args(argv)
    from tests.e2e.conftest import running_devstack

    meter = Path(tempfile.mkdtemp(prefix="storefront-meter-"))
    with running_devstack({**STACK, "STOREFRONT_METER_DIR": str(meter)}) as stack:
        started, order_ids = happy_path(stack.api_url, stack.ws_url, args.orders)
        wait_until_quiet(meter)
        entries = read_meter(meter, started)
        units = units_per_order(entries, args.orders, transitions(stack, order_ids))
    outcome = cost_model.report(units)
    print_by_function(entries, args.orders)
    return outcome


if __name__ == "__main__":
    sys.exit(main())
