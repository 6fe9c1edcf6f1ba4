"""Read units of one page of each catalog list: the product list (newest, by category), price order,
search, and GET /categories; the DynamoDB calls each page makes and the read units AWS would bill.

The app runs in-process on moto (the unit tests' stack) through `chalice.test.Client`. Every DynamoDB
call is seen through botocore's events; the read units follow DynamoDB's rules from the items each
call returned: a Query sums its items' sizes and rounds up to 4 KB, a BatchGetItem rounds each item
up to 4 KB; 0.5 unit per 4 KB eventually consistent, 1 strongly consistent. (moto's own
ConsumedCapacity counts 1 per item and ignores consistency, so it is not used.) Item sizes follow
bench/catalog_items.py. The catalog: 120 products with names of three words over 6 categories,
and the page size the web app asks for (12) and the API's default (20).

    .venv/bin/python -m bench.list_reads
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "STOREFRONT_STAGE": "local",
                   "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"})
os.environ.pop("AWS_ENDPOINT_URL", None)

import logging  # noqa: E402
import warnings  # noqa: E402

import botocore.session  # noqa: E402

from bench.catalog_items import item_size  # noqa: E402

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

CALLS: list[tuple[str, float, int]] = []  # (operation, read units, items)
_create_client = botocore.session.Session.create_client
_pending: dict[int, dict[str, Any]] = {}


def _counting_create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
    client = _create_client(self, *args, **kwargs)
    if client.meta.service_model.service_name == "dynamodb":
        client.meta.events.register("provide-client-params.dynamodb", _remember)
        client.meta.events.register("after-call.dynamodb", _measure)
    return client


def _remember(params: dict[str, Any], model: Any, **_: Any) -> None:
    _pending[id(model)] = params


def _units(size: int, consistent: bool) -> float:
    return math.ceil(max(size, 1) / 4096) * (1.0 if consistent else 0.5)


def _measure(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    params = _pending.pop(id(model), {})
    name = model.name
    if name == "Query":
        items = parsed.get("Items", [])
        CALLS.append((name, _units(sum(map(item_size, items)), bool(params.get("ConsistentRead"))), len(items)))
    elif name == "BatchGetItem":
        consistent = any(request.get("ConsistentRead") for request in params.get("RequestItems", {}).values())
        items = [item for table in parsed.get("Responses", {}).values() for item in table]
        CALLS.append((name, sum(_units(item_size(item), consistent) for item in items), len(items)))
    elif name in ("GetItem",):
        item = parsed.get("Item")
        CALLS.append((name, _units(item_size(item), bool(params.get("ConsistentRead"))) if item else 0.5, 1))


botocore.session.Session.create_client = _counting_create_client

PAGES = [
    ("GET /products (newest, page of 20)", "/products?limit=20"),
    ("GET /products (newest, page of 12: the web app)", "/products?limit=12"),
    ("GET /products?category= (page of 20)", "/products?category=cat-1&limit=20"),
    ("GET /products?sort=price_asc (page of 20)", "/products?sort=price_asc&limit=20"),
    ("GET /products?category=&sort=price_desc (20)", "/products?category=cat-1&sort=price_desc&limit=20"),
    ("GET /products?q=<common word> (page of 20)", "/products?q=storefront&limit=20"),
    ("GET /products?q=<two words> (page of 20)", "/products?q=kett%20blue&limit=20"),
    ("GET /products?q=<rare word> (1 match)", "/products?q=unique42&limit=20"),
    ("GET /categories", "/categories?limit=100"),
]
ADJECTIVES = ("blue", "green", "large", "small", "classic", "modern")
NOUNS = ("kettle", "mug", "lamp", "plate", "chair", "towel", "candle", "vase")


def main() -> int:
    from chalice.test import Client

    from devstack.moto_fixes import serialize_dynamodb
    from tests.aws import local_stack

    serialize_dynamodb()
    with local_stack():
        import app as app_module
        from chalicelib.catalog import service

        for i in range(120):
            name = f"Storefront {ADJECTIVES[i % 6]} {NOUNS[i % 8]}" + (" unique42" if i == 7 else "")
            service.create_product({"sku": f"BENCH-{i:03d}", "name": name, "category": f"cat-{i % 6}",
                                    "price_cents": 500 + 37 * i, "stock": 10 + i, "description": "A bench product."})
        client = Client(app_module.app, stage_name="local")
        print(f"{'page':<48} {'items':>5}  calls (items read)                         read units")
        for label, path in PAGES:
            del CALLS[:]
            response = client.http.get(path)
            assert response.status_code == 200, (path, response.json_body)
            shown = len(response.json_body["items"])
            calls = ", ".join(f"{name} ({items})" for name, _, items in CALLS)
            print(f"{label:<48} {shown:>5}  {calls:<44} {sum(units for _, units, _ in CALLS):>5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
