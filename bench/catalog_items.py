"""Sizes of the catalog's items, and the write units one order line costs the catalog, before and after
stock moved out of the product item into its STOCK item (docs/scaling.md).

Sizes follow DynamoDB's rules (attribute names + values: a string's UTF-8 bytes, a number ~1 byte per
two significant digits + 1) on the sample catalog of the local stage (devstack/seed_catalog.py) and on
the largest product the API accepts (ASCII text), stored in-process on moto through the app's own code.
"Before" is the same product item with the `stock` attribute it used to carry. Write units: 2 per
started KB of an item written in a transaction, 1 per started KB of each index entry the write changes
(both list indexes project ALL attributes, so a change of any attribute rewrites the entries).

    .venv/bin/python -m bench.catalog_items
"""

from __future__ import annotations

import math
import sys
from typing import Any

from tests.environment import use_in_process_environment  # noqa: E402

use_in_process_environment()

import logging  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

LARGEST_SKU = "L" * 64
LIST_INDEXES = 2  # gsi1 (every active product, one partition "ACTIVE") and gsi2 (by category)


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB bills for a raw item made of S and N attributes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, str]) -> int:
    [(kind, raw)] = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        digits = raw.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    raise ValueError(f"no size rule here for type {kind}")


def write_units(item_bytes: int, transactional: bool = True) -> int:
    return math.ceil(item_bytes / 1024) * (2 if transactional else 1)


def main() -> int:
    from devstack.moto_fixes import serialize_dynamodb
    from tests.aws import local_stack

    serialize_dynamodb()
    with local_stack():
        from chalicelib.catalog import service
        from chalicelib.catalog.models import Product
        from devstack.seed_catalog import seed_catalog

        seed_catalog()
        service.create_product({"sku": LARGEST_SKU, "name": "N" * 200, "description": "D" * 2000, "category": "c" * 50,
                                "price_cents": 100_000_000, "currency": "USD", "stock": 1_000_000})
        connection = Product._get_connection()
        rows = []
        for product in service.list_products(limit=100)["items"]:
            def raw(sk: str, product_id: str = product["product_id"]) -> dict:
                return connection.get_item(f"PRODUCT#{product_id}", sk, consistent_read=True)["Item"]

            item, stock = raw("PRODUCT"), raw("STOCK")
            before = {**item, "stock": stock["stock"]}
            rows.append((product["sku"], item_size(before), item_size(item), item_size(stock)))
    print(f"{'product':<12} {'product item before':>20} {'product item now':>17} {'STOCK item':>11}")
    for sku, before, now, stock in rows:
        print(f"{sku[:12]:<12} {before:>18} B {now:>15} B {stock:>9} B")
    print("\nwrite units per order line (the reservation; a cancellation's release costs the same):")
    largest = next(row for row in rows if row[0] == LARGEST_SKU)
    sample = max((row for row in rows if row is not largest), key=lambda row: row[1])
    for label, (_, before, _, stock) in (("the largest sample product", sample), ("the largest product", largest)):
        table_before, index_entry = write_units(before), write_units(before, transactional=False)
        print(f"  {label}: before: product item {table_before} + list-index entries {LIST_INDEXES * index_entry} "
              f"= {table_before + LIST_INDEXES * index_entry} (of which {index_entry} on gsi1's one partition); "
              f"now: STOCK item {write_units(stock)}, list-index entries 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
