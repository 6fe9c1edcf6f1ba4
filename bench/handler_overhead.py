"""Handler overhead: requests/s through `chalice.test.Client` against in-process moto, next to the
same AWS calls made directly with boto3 (the floor), as a ratio.

    .venv/bin/python -m bench.handler_overhead [--requests 300]

Each pair makes the same AWS calls (bench/aws_calls.py counts them): the route's only cost above
the floor is the app's own work (routing, the JWT check, validation, PynamoDB, the view, logging).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import aws_calls  # noqa: F401  (sets the environment and the call counter first)


def rate(fn: Callable[[], Any], n: int) -> float:
    fn()  # warm: clients, connections, JWKS
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)

    import boto3
    from chalice.test import Client

    from chalicelib.accounts import tokens
    from devstack.moto_fixes import serialize_dynamodb
    from tests.aws import local_stack, moto_public_jwks

    serialize_dynamodb()
    tokens.fetch_jwks = moto_public_jwks
    with local_stack():
        import app as app_module
        from chalicelib.catalog import service as catalog
        from chalicelib.orders import service as orders
        from tests.users import make_user

        user = make_user()
        product = catalog.create_product({"sku": "OVERHEAD-1", "name": "Mug", "price_cents": 900, "stock": 10 ** 6})
        order, _ = orders.place_order(user.user_id, user.email, {
            "items": [{"product_id": product["product_id"], "quantity": 1}], "payment_token": "tok_visa"})
        client = Client(app_module.app, stage_name="local")
        dynamodb, catalog_table = boto3.client("dynamodb", region_name="us-east-1"), "storefront-local-catalog"

        def list_page_and_its_stock() -> None:
            page = dynamodb.query(TableName=catalog_table, IndexName="gsi1", Limit=21, ScanIndexForward=False,
                                  KeyConditionExpression="gsi1pk = :p",
                                  ExpressionAttributeValues={":p": {"S": "ACTIVE"}})
            dynamodb.batch_get_item(RequestItems={catalog_table: {
                "Keys": [{"pk": item["pk"], "sk": {"S": "STOCK"}} for item in page["Items"][:20]]}})

        pairs = [
            ("GET /products/{id} (anonymous, 1 BatchGetItem)",
             lambda: client.http.get(f"/products/{product['product_id']}"),
             lambda: dynamodb.batch_get_item(RequestItems={catalog_table: {"ConsistentRead": True, "Keys": [
                 {"pk": {"S": f"PRODUCT#{product['product_id']}"}, "sk": {"S": sk}} for sk in ("PRODUCT", "STOCK")]}})),
            ("GET /orders/{id} (bearer token, 1 GetItem)",
             lambda: client.http.get(f"/orders/{order['order_id']}", headers=user.headers),
             lambda: dynamodb.get_item(TableName="storefront-local-orders", ConsistentRead=True,
                                       Key={"pk": {"S": f"ORDER#{order['order_id']}"}, "sk": {"S": "ORDER"}})),
            ("GET /products (1 Query + 1 BatchGetItem)", lambda: client.http.get("/products?limit=20"),
             list_page_and_its_stock),
        ]
        print(f"{args.requests} requests each, in-process moto; baseline: the same AWS call with boto3")
        print(f"{'operation':<44} {'route req/s':>11} {'boto3 req/s':>11} {'ratio':>6}")
        for name, route, floor in pairs:
            assert route().status_code == 200, name
            route_rate, floor_rate = rate(route, args.requests), rate(floor, args.requests)
            print(f"{name:<44} {route_rate:>11.0f} {floor_rate:>11.0f} {floor_rate / route_rate:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
