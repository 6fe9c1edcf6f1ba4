"""Prices, the floor design and the report of bench/cost.py (and of the test that holds its units).

PRICES: AWS list prices, us-east-1, on-demand, without free tiers, from the pricing pages named
beside each (as published in 2025; this machine has no network to read them again, so the date of
the table is PRICES_AS_OF). FLOOR: the units per order of the cheapest design with the same
guarantees (transactional outbox, idempotent consumers, one email per milestone, a durable
fulfilment workflow, live updates), each with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
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
    "traces": (5.00e-6, "X-Ray trace recorded", "https://aws.amazon.com/xray/pricing/"),
}
EMAIL = "emails"

# What the deploy configures (deploy/stage_config.py, infra/template.yaml): the app's log lines below
# WARN and the platform's START/END/REPORT lines are dropped by Lambda (LoggingConfig), and X-Ray keeps
# 1% of requests beyond a reservoir of one a second.
APPLICATION_LOG_LEVEL = "WARNING"
SYSTEM_LOG_LEVEL = "WARN"
PLATFORM_LOG_BYTES = 330  # START, END and REPORT lines of one invocation (JSON format), when kept
XRAY_RATE = 0.01
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

FLOOR: dict[str, tuple[float, str]] = {
    "api_requests": (8, "list 1, views 3, order 1, the order page 1 (its frames carry the rest), ship 1, carrier 1"),
    "ws_messages": (4, "frames PAID, PACKED, SHIPPED, DELIVERED"),
    "ws_minutes": (1, "the order page open a minute"),
    "lambda_requests": (9.9, "the 8 API requests, the authorizer once, ~9 consumer messages in batches of 10"),
    "lambda_gb_seconds_x86": (0.0, "every function on arm64"),
    "lambda_gb_seconds_arm": (0.4, "~20 invocations x ~80 ms at 256 MB (a local in-process time stands in)"),
    "rru": (10, "the page and views' item reads, each consumer's inbox and state reads"),
    "wru": (40, "order + stock + outbox in one tx, 4 consumers' inbox + state txs, 3 notifications, index "
                "entries, the outbox's marks"),
    "sns": (9, "one publish per event: placed, paid, packed, shipped, delivered, 3 notifications stored, + 1"),
    "sqs": (30, "each event to its 1-3 queues, the workflow's task messages, batched receives and deletes"),
    "emails": (3, "confirmed, shipped, delivered"),
    "transitions": (4, "Pack, AwaitShipment, AwaitDelivery, Delivered"),
    "log_bytes": (2000, "warnings only, and the API access log line per request"),
    "traces": (0.2, "1% of ~20 requests and invocations"),
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
    traces: float = 0
    log_bytes_at_info: float = 0  # for the report: what the logs were before WARN
    by_function: dict[str, float] = field(default_factory=dict)


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
    print(f"cost per order of the happy path, $ per million orders ({PRICES_AS_OF}):")
    print("| component | units per order | $ per million orders | floor units | floor $ | unit price, source |")
    print("|---|---|---|---|---|---|")
    total = floor_total = 0.0
    for f in fields(Units):
        if f.name not in PRICES:
            continue
        measured = getattr(units, f.name)
        dollars, floor_dollars = per_million(f.name, measured), per_million(f.name, FLOOR[f.name][0])
        price, unit, source = PRICES[f.name]
        print(f"| {f.name} | {measured:,.2f} | {dollars:,.2f} | {FLOOR[f.name][0]:,g} | {floor_dollars:,.2f} "
              f"| ${price:.3g} per {unit}, {source} |")
        if f.name != EMAIL:
            total, floor_total = total + dollars, floor_total + floor_dollars
    email, floor_email = per_million(EMAIL, units.emails), per_million(EMAIL, FLOOR[EMAIL][0])
    print(f"| **total without email** | | **{total:,.2f}** | | **{floor_total:,.2f}** | |")
    print(f"| **total** | | **{total + email:,.2f}** | | **{floor_total + floor_email:,.2f}** | |")
    print(f"\nlog bytes per order at INFO with platform lines (before WARN): {units.log_bytes_at_info:,.0f}")
    print("invocations per order (before batching): " + ", ".join(f"{k} {v:g}" for k, v in units.by_function.items()))
    ratio = total / floor_total
    print(f"ratio to the floor without email: {ratio:.2f}x   limit {RATIO_LIMIT}x   "
          f"{'OK' if ratio <= RATIO_LIMIT else 'ABOVE THE LIMIT'}")
    return 0 if ratio <= RATIO_LIMIT else 1
