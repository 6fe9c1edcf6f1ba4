"""Writes what is generated from the event catalog and the subscription table:

- docs/events/<EventType>.json: the JSON Schema of each event type's `data` (msgspec writes it from
  the catalog's annotations), with its version, producer and one example, which the consumer tests
  are fed from;
- the two tables of docs/events.md between the `generated` markers (queues, event types);
- the `event_type` filter policy of each consumer's subscription in infra/template.yaml.

`python -m tools.event_catalog` (part of `make docs`) rewrites them; `--check` exits 1 naming what
is stale (the tests run the same check). A development tool: it is not in the Lambda package.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import msgspec

from chalicelib.events import catalog as c
from chalicelib.events.subscriptions import AUDIT, CONSUMERS, Consumer, consumers_of

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs" / "events"
EVENTS_DOC = ROOT / "docs" / "events.md"
TEMPLATE = ROOT / "infra" / "template.yaml"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_ORDER = c.OrderFields(order_id="3f9a0c5e1b2d4c6e8a7b9d0e1f2a3b4c", user_id="8d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6",
                       email="ada@example.com", total_cents=2500, currency="EUR")
_LINE = c.OrderLine(product_id="5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e", sku="MUG-BLUE", name="Blue mug",
                    unit_price_cents=1250, quantity=2)
_PAYMENT = c.PaymentFields(order_id=_ORDER["order_id"], user_id=_ORDER["user_id"], email=_ORDER["email"],
                           payment_id="a1b2c3d4e5f60718293a4b5c6d7e8f90", amount_cents=2500, currency="EUR")
_CARRIER, _TRACKING = "Storefront Post", "SP1A2B3C4D5E6F7A8B"
_AT = "2026-11-23T10:00:00.000Z"
_IMPORT_ID, _KEY = "imp-0b1c2d3e", "imports/2026-11-23/products.csv"

EXAMPLES: dict[type[c.EventData], c.EventData] = {e.__class__: e for e in (
    c.OrderPlaced(**_ORDER, items=[_LINE], payment_token="tok_visa"),
    c.OrderCancelled(**_ORDER, reason="cancelled_by_customer", was_paid=True, items=[_LINE]),
    c.OrderPacked(**_ORDER),
    c.OrderShipped(**_ORDER, carrier=_CARRIER, tracking_number=_TRACKING),
    c.OrderDelivered(**_ORDER, carrier=_CARRIER, tracking_number=_TRACKING, delivered_at="2026-11-25T15:30:00Z"),
    c.ShipmentOverdue(**_ORDER, deadline_seconds=172800, packed_at=_AT),
    c.DeliveryOverdue(**_ORDER, deadline_seconds=1209600, shipped_at=_AT, carrier=_CARRIER, tracking_number=_TRACKING),
    c.PaymentSucceeded(**_PAYMENT),
    c.PaymentFailed(**_PAYMENT, reason="declined"),
    c.PaymentRefunded(**_PAYMENT),
    c.ProductCreated(product_id=_LINE.product_id, sku="MUG-BLUE", name="Blue mug", description="Stoneware, 350 ml",
                     price_cents=1250, currency="EUR", category="kitchen", stock=40, image_url=None,
                     thumbnail_url=None, created_at=_AT, updated_at=_AT),
    c.ProductUpdated(product_id=_LINE.product_id, sku="MUG-BLUE", price_cents=1100, stock=35),
    c.ProductDeleted(product_id=_LINE.product_id, sku="MUG-BLUE"),
    c.ProductImported(import_id=_IMPORT_ID, key=_KEY, first_row=2, last_row=3, products=[
        c.ImportedProduct(product_id=_LINE.product_id, sku="MUG-BLUE", created=True)]),
    c.ImportFinished(import_id=_IMPORT_ID, key=_KEY, status="COMPLETED"),
    c.NotificationStored(notification_id="0f1e2d3c-4b5a-5968-8776-a5b4c3d2e1f0", user_id=_ORDER["user_id"],
                         notification=c.NotificationView(
                             notification_id="0f1e2d3c-4b5a-5968-8776-a5b4c3d2e1f0", type="PaymentSucceeded",
                             subject="Order 3f9a0c5e1b2d4c6e8a7b9d0e1f2a3b4c is confirmed", body="We received...",
                             created_at=_AT)),
)}


def schema_of(cls: type[c.EventData]) -> dict[str, Any]:
    """The JSON Schema of `cls`'s data, with its example, version and producer."""
    generated = msgspec.json.schema(cls)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": cls.EVENT_TYPE,
            "x-event-version": cls.VERSION, "x-producer": cls.PRODUCER,
            "examples": [msgspec.to_builtins(EXAMPLES[cls])], **generated}


def schema_files() -> dict[Path, str]:
    return {SCHEMA_DIR / f"{name}.json": json.dumps(schema_of(cls), indent=2) + "\n"
            for name, cls in c.EVENT_TYPES.items()}


def _fields(cls: type[c.EventData]) -> str:
    base = c.CustomerData if issubclass(cls, c.CustomerData) else c.EventData
    own = [f for f in msgspec.structs.fields(cls) if f.name not in {g.name for g in msgspec.structs.fields(base)}]
    return ", ".join(f"`{f.name}`" for f in own) or "—"


def _queue_table() -> str:
    rows = ["| queue | event types | function | what it does |", "|---|---|---|---|"]
    rows += [f"| `{k.queue}` | {', '.join(k.event_types)} | `{k.function}` | {k.does} |" for k in CONSUMERS]
    return "\n".join(rows)


def _event_table() -> str:
    rows = ["| event_type | version | producer | data (order and payment events also carry `order_id`, `user_id`,"
            " `email`, `currency`) | consumers |", "|---|---|---|---|---|"]
    for name, cls in c.EVENT_TYPES.items():
        consumers = [k.queue for k in consumers_of(cls)] + [AUDIT.split(" ", 1)[0]]
        rows.append(f"| [`{name}`](events/{name}.json) | {cls.VERSION} | {cls.PRODUCER} | {_fields(cls)} |"
                    f" {', '.join(consumers)} |")
    return "\n".join(rows)


def _replace_between(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- generated {name}: python -m tools.event_catalog -->", f"<!-- end {name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"docs/events.md lacks the markers of the {name} table")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def events_doc(text: str) -> str:
    return _replace_between(_replace_between(text, "queues", _queue_table()), "events", _event_table())


def logical_id(consumer: Consumer) -> str:
    """The consumer's queue in the template: `payments` -> PaymentsQueue (its subscription PaymentsSubscription)."""
    return "".join(part.title() for part in consumer.queue.split("-")) + "Queue"


def template_text(text: str) -> str:
    """`text` with each consumer's subscription filtering on exactly the types it takes."""
    for consumer in CONSUMERS:
        subscription = logical_id(consumer).removesuffix("Queue") + "Subscription"
        pattern = re.compile(rf"(\n  {subscription}:\n(?:    .*\n|\n)*?        event_type:\n)((?:          - .*\n)+)")
        if not pattern.search(text):
            raise ValueError(f"infra/template.yaml has no {subscription} with an event_type filter policy: add it"
                             " (docs/howto.md, add a consumer)")
        listed = "".join(f"          - {name}\n" for name in consumer.event_types)
        text = pattern.sub(lambda match: match.group(1) + listed, text, count=1)  # noqa: B023 (used at once)
    return text


def outputs() -> dict[Path, str]:
    """Every generated file and its content as it should be."""
    return {**schema_files(), EVENTS_DOC: events_doc(EVENTS_DOC.read_text(encoding="utf-8")),
            TEMPLATE: template_text(TEMPLATE.read_text(encoding="utf-8"))}


def stale() -> list[str]:
    """The generated files that differ from what the catalog and the table make (relative paths)."""
    found = [path for path, content in outputs().items()
             if not path.exists() or path.read_text(encoding="utf-8") != content]
    expected = set(schema_files())
    found += [path for path in SCHEMA_DIR.glob("*.json") if path not in expected]  # a type that is gone
    return sorted(os.path.relpath(path, ROOT) for path in found)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        out_of_date = stale()
        for path in out_of_date:
            print(f"stale: {path} (run python -m tools.event_catalog)")
        return 1 if out_of_date else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for gone in SCHEMA_DIR.glob("*.json"):
        if gone not in schema_files():
            gone.unlink()
    for target, content in outputs().items():
        target.write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
