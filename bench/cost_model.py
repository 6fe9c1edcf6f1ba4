"""Prices, the floor design and the report of bench/cost.py (and of the test that holds its units).

PRICES: AWS list prices, us-east-1, on-demand, without free tiers, from the pricing pages named
beside each (as published in 2025; this machine has no network to read them again, so the date of
the table is PRICES_AS_OF). FLOOR: the units per order of the cheapest design with the same
guarantees (transactional outbox, idempotent consumers, one email per milestone, a durable
fulfilment workflow, live updates), each with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRICES_AS_OF = "2025 list prices, us-east-1 (table dated 2026-12-01)"
# component: (dollars per unit, unit, source)
PRICES: dict[str, tuple[float, str, str]] = {
    "api_requests": (3.50e-6, "REST API request", "https://aws.amazon.com/api-gateway/pricing/ (first 333 M a month)"),
    "ws_messages": (1.00e-6, "WebSocket message (32 KB steps)", "https://aws.amazon.com/api-gateway/pricing/"),
    "ws_minutes": (0.25e-6, "WebSocket connection minute", "https://aws.amazon.com/api-gateway/pricing/"),
    "lambda_requests": (0.20e-6, "Lambda request", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_seconds_x86": (16.6667e-6, "GB-second, x86_64", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_seconds_arm": (13.3334e-6, "GB-second, arm64", "https://aws.amazon.com/lambda/pricing/"),
    "rru": (0.125e-6, "DynamoDB read request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "wru": (0.625e-6, "DynamoDB write request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "sns": (0.50e-6, "SNS publish (64 KB steps; delivery to SQS free)", "https://aws.amazon.com/sns/pricing/"),
    "sqs": (0.40e-6, "SQS standard request (64 KB steps)", "https://aws.amazon.com/sqs/pricing/"),
    "emails": (0.10e-3, "SES email", "https://aws.amazon.com/ses/pricing/"),
    "transitions": (0.025e-3, "Step Functions Standard transition", "https://aws.amazon.com/step-functions/pricing/"),
    "log_bytes": (0.50 / 2**30, "CloudWatch Logs byte ingested", "https://aws.amazon.com/cloudwatch/pricing/"),
    "access_log_bytes": (0.50 / 2**30, "API access log byte ingested", "https://aws.amazon.com/cloudwatch/pricing/"),
    "traces": (5.00e-6, "X-Ray trace recorded", "https://aws.amazon.com/xray/pricing/"),
}
EMAIL = "emails"

# What the deploy configures (deploy/stage_config.py, infra/template.yaml): the app's log lines below
# WARN and the platform's START/END/REPORT lines are dropped by Lambda (LoggingConfig), and X-Ray keeps
# 1% of requests beyond a reservoir of one a second.
APPLICATION_LOG_LEVEL = "WARNING"
SYSTEM_LOG_LEVEL = "WARN"
PLATFORM_LOG_BYTES = 330  # START, END and REPORT lines of one invocation (JSON format), when kept
ACCESS_LOG_BYTES = 420  # one API access log line (deploy/post_deploy.py ACCESS_LOG_FORMAT, filled in)
XRAY_RATE = 0.01
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# The floor design: this design's guarantees (a transactional outbox with its unpublished index and
# marks, published at once after the commit; inbox markers; conditional writes; a Standard workflow;
# live updates) at the fewest units each step of the happy path needs. What it does not do, that this
# app does today: an audit Lambda invocation per event (the outbox serves the audit), the order page's
# second timeline read and payment read (its frames carry them), the pusher's reads of the order and of
# the admins' connections per frame, and duplicate deliveries. Duration: the floor's invocations (not
# batched) at the run's own median in-process milliseconds, at 256 MB on arm64.
# API 8, WebSocket 2, payments 1, orders 1, workflow tasks 6, notifications 3, pusher 7, stream publisher 5
FLOOR_INVOCATIONS = 33
FLOOR_MEMORY_GB = 0.25
FLOOR: dict[str, tuple[float, str]] = {
    "api_requests": (8, "list 1, views 3, order 1, the order page 1 (its frames carry the rest), ship 1, carrier 1"),
    "ws_messages": (7, "order frames PAID, PACKED, SHIPPED, DELIVERED and the 3 notifications' frames"),
    "ws_minutes": (1, "the order page open for a minute"),
    "lambda_requests": (12.9, "8 API, the authorizer once (cached per token), 2 WebSocket, ~18 queue messages in "
                              "batches of 10, 8 stream records in batches of 100"),
    "lambda_gb_seconds_x86": (0.0, "every function on arm64"),
    "lambda_gb_seconds_arm": (0.0, "FLOOR_INVOCATIONS x the run's median ms x 0.25 GB (set by report())"),
    "rru": (41, "the page and views' reads, the order's strongly consistent reads, each consumer's state read, "
                "the stream publisher's check of 8 events, a 0.5-unit connections query per frame"),
    "wru": (93, "8 events x (2 in their transaction + index entry 1 + mark 1 + index removal 1) = 40; order, stock "
                "and key 6 + 2 index; payment 9; order paid 4 + 2; workflow steps 17; 3 notifications x 2 + 3 index;"
                " WebSocket connection 4"),
    "sns": (8, "one publish per event: placed, paid, packed, shipped, delivered, 3 notifications stored"),
    "sqs": (24, "each message's send (~18, by SNS and the workflow), one receive and one delete per batch"),
    "emails": (3, "confirmed, shipped, delivered"),
    "transitions": (4, "Pack, AwaitShipment, AwaitDelivery, Delivered"),
    "log_bytes": (0, "nothing at WARN on the happy path (the API access log: access_log_bytes)"),
    "access_log_bytes": (0, "one access log line per API request (set by report() from ACCESS_LOG_BYTES)"),
    "traces": (0.29, "1% of 8 API requests and ~21 event invocations"),
}
RATIO_LIMIT = 1.2


@dataclass
class Units:
    """Billable units of one order, per PRICES component."""

    api_requests: float = 0
    ws_messages: float = 0
    ws_minutes: float = 0
    lambda_requests: float = 0
    lambda_gb_seconds_x86: float = 0
    lambda_gb_seconds_arm: float = 0
    rru: float = 0
    wru: float = 0
    sns: float = 0
    sqs: float = 0
    emails: float = 0
    transitions: float = 0
    log_bytes: float = 0
    access_log_bytes: float = 0
    traces: float = 0
    log_bytes_at_info: float = 0  # for the report: what the logs were before WARN
    median_invocation_ms: float = 0  # the run's, for the floor's duration
    by_function: dict[str, float] = field(default_factory=dict)


def floor_units(units: Units) -> dict[str, float]:
    """FLOOR's units, with its duration and access log from the run's own per-invocation time and line size."""
    floor = {name: value for name, (value, _) in FLOOR.items()}
    floor["lambda_gb_seconds_arm"] = FLOOR_INVOCATIONS * units.median_invocation_ms / 1000 * FLOOR_MEMORY_GB
    floor["access_log_bytes"] = FLOOR["api_requests"][0] * ACCESS_LOG_BYTES
    return floor


def totals(units: Units, leave_out: tuple[str, ...] = (EMAIL,)) -> tuple[float, float]:
    """($ per million orders measured, the floor's), without the components `leave_out`."""
    floor = floor_units(units)
    names = [name for name in PRICES if name not in leave_out]
    return (sum(per_million(n, getattr(units, n)) for n in names), sum(per_million(n, floor[n]) for n in names))


def per_million(component: str, units: float) -> float:
    return units * PRICES[component][0] * 1_000_000


@cache
def _chalice_config() -> dict:
    return json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))


def memory_and_architecture(function: str, stage: str = "prod") -> tuple[int, str]:
    """The function's memory (MB) and architecture as Chalice deploys it (function > stage > global)."""
    from chalice.config import Config

    config = Config(chalice_stage=stage, function_name=function, config_from_disk=_chalice_config())
    return config.lambda_memory_size, config.lambda_architecture


@cache
def batch_sizes() -> dict[str, int]:
    """Each queue consumer's and the stream publisher's batch size, from the app's registrations."""
    import app

    return {source.name: source.batch_size for source in app.app.event_sources
            if type(source).__name__ in ("SQSEventConfig", "DynamoDBEventConfig")}


def report(units: Units) -> int:
    """Print the table; 1 if the total without email is above RATIO_LIMIT x the floor's."""
    floor = floor_units(units)
    print(f"cost per order of the happy path, $ per million orders ({PRICES_AS_OF}):")
    print("| component | units per order | $ per million orders | floor units | floor $ | unit price, source |")
    print("|---|---|---|---|---|---|")
    for name, (price, unit, source) in PRICES.items():
        measured = getattr(units, name)
        print(f"| {name} | {measured:,.2f} | {per_million(name, measured):,.2f} | {floor[name]:,.4g} "
              f"| {per_million(name, floor[name]):,.2f} | ${price:.3g} per {unit}, {source} |")
    total, floor_total = totals(units)
    everything, floor_everything = totals(units, leave_out=())
    print(f"| **total without email** | | **{total:,.2f}** | | **{floor_total:,.2f}** | |")
    print(f"| **total** | | **{everything:,.2f}** | | **{floor_everything:,.2f}** | |")
    print(f"\nlog bytes per order at INFO with platform lines (before WARN): {units.log_bytes_at_info:,.0f}")
    print(f"median in-process time per invocation: {units.median_invocation_ms:.0f} ms")
    print("invocations per order (before batching): " + ", ".join(f"{k} {v:g}" for k, v in units.by_function.items()))
    ratio = total / floor_total
    print(f"ratio to the floor without email: {ratio:.2f}x   limit {RATIO_LIMIT}x   "
          f"{'OK' if ratio <= RATIO_LIMIT else 'ABOVE THE LIMIT'}")
    return 0 if ratio <= RATIO_LIMIT else 1
