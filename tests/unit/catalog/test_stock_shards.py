"""Sharded stock of a hot product (docs/scaling.md): layout, reads, orders, stock sets, imports and the
re-shard command, against the in-process stack. Products of one shard must cost exactly what they did."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from pynamodb.exceptions import TransactWriteError

from chalicelib.catalog import api as catalog_api
from chalicelib.catalog import products, stock
from chalicelib.catalog import service as catalog
from chalicelib.catalog.models import Product, stock_key
from chalicelib.dynamo import transaction
from chalicelib.errors import Conflict
from chalicelib.orders import service as orders
from ops import stock_shards
from ops.stock_shards import reshard
from tests.users import make_user, uid

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="module")
def shopper(stack):
    return make_user()


def get_products(product_ids) -> dict:
    """The active products among `product_ids`, by id, as the service reads them for orders."""
    return catalog.get_products_and_shards(product_ids)[0]


def new_product(stock: int, shards: int = 1, **overrides) -> dict:
    product = catalog.create_product({"sku": uid("SKU"), "name": "Hot", "price_cents": 500, "stock": stock,
                                      **overrides})
    if shards > 1:
        reshard(product["product_id"], shards)
    return product


def stored_shards(product_id: str) -> list[dict]:
    """The raw stock items of a product, shard 0 first."""
    connection, items = Product._get_connection(), []
    while item := connection.get_item(*stock_key(f"PRODUCT#{product_id}", len(items)),
                                      consistent_read=True).get("Item"):
        items.append(item)
    return items


def units(product_id: str) -> list[int]:
    return [int(item["stock"]["N"]) for item in stored_shards(product_id)]


def order(client, user, product, quantity, key=None):
    headers = {**user.headers, **({"Idempotency-Key": key} if key else {})}
    body = {"items": [{"product_id": product["product_id"], "quantity": quantity}], "payment_token": "tok_visa"}
    return client.http.post("/orders", headers=headers, body=json.dumps(body))


def test_a_resharded_product_stores_n_shards_and_shows_their_sum_unchanged(client):
    category = uid("cat")
    product = new_product(10, category=category)
    assert reshard(product["product_id"], 3) == [4, 3, 3]
    items = stored_shards(product["product_id"])
    pk = f"PRODUCT#{product['product_id']}"
    assert [(item["pk"]["S"], item["sk"]["S"]) for item in items] == [
        (pk, "STOCK"), (f"{pk}#STOCK#1", "STOCK"), (f"{pk}#STOCK#2", "STOCK")]
    assert [item["stock"]["N"] for item in items] == ["4", "3", "3"]
    assert items[0]["shards"] == {"N": "3"} and all("shards" not in item for item in items[1:])
    assert {item["status"]["S"] for item in items} == {"ACTIVE"}
    # The view does not change at all: same stock (the sum), same updated_at.
    assert client.http.get(f"/products/{product['product_id']}").json_body == product
    assert client.http.get(f"/products?category={category}").json_body["items"] == [product]
    assert get_products([product["product_id"]]) == {product["product_id"]: product}


def test_only_sharded_products_cost_a_second_batch_get(client, dynamo_calls):
    category = uid("cat")
    plain, hot = new_product(5, category=category), new_product(9, shards=3, category=category)
    dynamo_calls.clear()
    assert client.http.get(f"/products/{plain['product_id']}").json_body["stock"] == 5
    assert dynamo_calls == ["BatchGetItem"]
    dynamo_calls.clear()
    assert client.http.get(f"/products/{hot['product_id']}").json_body["stock"] == 9
    assert dynamo_calls == ["BatchGetItem", "BatchGetItem"]
    dynamo_calls.clear()
    assert [p["stock"] for p in client.http.get(f"/products?category={category}").json_body["items"]] == [9, 5]
    assert dynamo_calls == ["Query", "BatchGetItem", "BatchGetItem"]
    catalog.delete_product(hot["product_id"])
    dynamo_calls.clear()
    assert [p["stock"] for p in client.http.get(f"/products?category={category}").json_body["items"]] == [5]
    assert dynamo_calls == ["Query", "BatchGetItem"]


def test_orders_of_one_shard_products_make_the_same_calls_and_writes_as_before(client, shopper, dynamo_calls):
    plain = new_product(5)
    dynamo_calls.clear()
    placed = order(client, shopper, plain, 2)
    assert placed.status_code == 201 and dynamo_calls == ["BatchGetItem", "TransactWriteItems"]
    assert [item["sk"]["S"] for item in stored_shards(plain["product_id"])] == ["STOCK"]
    assert "shards" not in stored_shards(plain["product_id"])[0]
    dynamo_calls.clear()
    cancelled = client.http.post(f"/orders/{placed.json_body['order_id']}/cancel", headers=shopper.headers)
    assert cancelled.status_code == 200
    assert dynamo_calls == ["GetItem", "TransactWriteItems"] and units(plain["product_id"]) == [5]


def test_an_order_takes_from_exactly_one_shard_when_one_has_enough(client, shopper, dynamo_calls):
    hot = new_product(10, shards=3)
    dynamo_calls.clear()
    assert order(client, shopper, hot, 3).status_code == 201
    assert dynamo_calls == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]
    after = units(hot["product_id"])
    assert sum(after) == 7 and sorted(b - a for a, b in zip(after, [4, 3, 3], strict=True)) == [0, 0, 3]


def test_an_order_splits_over_shards_when_none_has_enough(client, shopper):
    hot = new_product(10, shards=3)  # 4, 3, 3
    placed = order(client, shopper, hot, 9)
    assert placed.status_code == 201 and units(hot["product_id"]) == [0, 0, 1]  # largest first: 4, 3, then 2 of 3
    assert client.http.get(f"/products/{hot['product_id']}").json_body["stock"] == 1
    assert order(client, shopper, hot, 2).status_code == 409 and units(hot["product_id"]) == [0, 0, 1]
    cancelled = client.http.post(f"/orders/{placed.json_body['order_id']}/cancel", headers=shopper.headers)
    assert cancelled.status_code == 200 and units(hot["product_id"]) == [9, 0, 1]  # released onto shard 0


def test_concurrent_orders_of_a_sharded_product_never_oversell():
    user, hot = make_user(), new_product(10, shards=3)
    request = {"items": [{"product_id": hot["product_id"], "quantity": 1}], "payment_token": "tok_visa"}

    def attempt(_):
        try:
            orders.place_order(user.user_id, user.email, request)
            return True
        except Conflict:
            return False

    with ThreadPoolExecutor(10) as pool:
        placed = sum(pool.map(attempt, range(30)))
    assert placed == 10 and units(hot["product_id"]) == [0, 0, 0]


def test_a_shard_emptied_by_a_concurrent_order_is_read_again_and_retried(monkeypatch, shopper):
    hot = new_product(6, shards=2)  # 3, 3
    pid, real = hot["product_id"], catalog.get_products_and_shards
    stale = real([pid])
    with transaction() as tx:
        catalog.stock_reserve(tx, pid, 3, [3, 0])  # a concurrent order empties shard 0
    reads = []
    monkeypatch.setattr(catalog, "get_products_and_shards", lambda ids: reads.append(1) or (
        stale if len(reads) == 1 else real(ids)))
    monkeypatch.setattr(stock.random, "choice", lambda shards: shards[0])  # the stale read's shard 0
    view, created = orders.place_order(shopper.user_id, shopper.email,
                                       {"items": [{"product_id": pid, "quantity": 2}], "payment_token": "tok_visa"})
    assert created and len(reads) == 2 and units(pid) == [0, 1]
    with pytest.raises(Conflict, match="Not enough stock"):  # the stale read again, and now too little in all
        reads.clear()
        orders.place_order(shopper.user_id, shopper.email,
                           {"items": [{"product_id": pid, "quantity": 2}], "payment_token": "tok_visa"})
    assert units(pid) == [0, 1]


def test_a_deleted_sharded_product_refuses_orders(client, shopper, monkeypatch):
    hot = new_product(9, shards=3)
    pid = hot["product_id"]
    stale = catalog.get_products_and_shards([pid])
    assert client.http.delete(f"/products/{pid}", headers=make_user(admin=True).headers).status_code == 204
    assert {item["status"]["S"] for item in stored_shards(pid)} == {"DELETED"}
    assert order(client, shopper, hot, 1).status_code == 422
    for shard in range(3):
        with pytest.raises(TransactWriteError):
            with transaction() as tx:
                catalog.stock_reserve(tx, pid, 1, [3 if s == shard else 0 for s in range(3)])
    real, reads = catalog.get_products_and_shards, []
    monkeypatch.setattr(catalog, "get_products_and_shards", lambda ids: reads.append(1) or (
        stale if len(reads) == 1 else real(ids)))  # the placement read before the delete, its re-read after
    refused = order(client, shopper, hot, 1)
    assert refused.status_code == 409 and "no longer sold" in refused.json_body["Message"]
    assert len(reads) == 2 and units(pid) == [3, 3, 3]


def test_a_stock_patch_distributes_over_the_shards(client):
    admin, hot = make_user(admin=True), new_product(9, shards=3)
    response = client.http.patch(f"/products/{hot['product_id']}", headers=admin.headers,
                                 body=json.dumps({"stock": 11}))
    assert response.status_code == 200 and response.json_body["stock"] == 11
    assert units(hot["product_id"]) == [4, 4, 3]
    assert client.http.get(f"/products/{hot['product_id']}").json_body == response.json_body


def test_a_stock_patch_or_delete_read_before_a_reshard_is_409_and_changes_nothing(monkeypatch):
    product = new_product(8)
    pid = product["product_id"]
    stale = products.load_active(pid)
    reshard(pid, 2)
    monkeypatch.setattr(products, "load_active", lambda product_id: stale)
    with pytest.raises(Conflict):
        catalog.update_product(pid, {"stock": 1})
    with pytest.raises(Conflict):
        catalog.delete_product(pid)
    assert units(pid) == [4, 4] and {item["status"]["S"] for item in stored_shards(pid)} == {"ACTIVE"}


def test_an_import_sets_a_sharded_product_over_its_shards():
    hot = new_product(9, shards=3)
    row = catalog_api.NEW_PRODUCT.validate({"sku": hot["sku"], "name": "Hot", "price_cents": 500, "stock": 20})
    (upserted,) = catalog.upsert_products([row], id_seed="shards")
    assert not upserted.created and units(hot["product_id"]) == [7, 7, 6]
    assert stored_shards(hot["product_id"])[0]["shards"] == {"N": "3"}
    assert catalog.get_product(hot["product_id"])["stock"] == 20


def test_resharding_keeps_the_total_both_ways_and_checks_its_bounds():
    hot = new_product(7, shards=4)
    assert units(hot["product_id"]) == [2, 2, 2, 1]
    assert reshard(hot["product_id"], 2) == [4, 3] and units(hot["product_id"]) == [4, 3]
    assert reshard(hot["product_id"], 1) == [7]
    assert [item["sk"]["S"] for item in stored_shards(hot["product_id"])] == ["STOCK"]
    assert "shards" not in stored_shards(hot["product_id"])[0]
    for bad in (0, 11, True):
        with pytest.raises(ValueError):
            reshard(hot["product_id"], bad)
    with pytest.raises(LookupError):
        reshard("unknown", 2)


def test_a_reshard_is_refused_by_a_concurrent_change_and_done_again(monkeypatch):
    hot = new_product(10, shards=2)  # 5, 5
    pid, real, reads = hot["product_id"], products.read_products, []

    def racing(ids):  # an order lands between the command's read and its write, the first two times
        found = real(ids)
        reads.append(1)
        if len(reads) <= 2:
            with transaction() as tx:
                catalog.stock_reserve(tx, pid, 1, [5, 0])
        return found

    monkeypatch.setattr(products, "read_products", racing)
    assert reshard(pid, 3) == [3, 3, 2] and len(reads) == 3 and sum(units(pid)) == 8
    monkeypatch.setattr(stock_shards, "RESHARD_ATTEMPTS", 2)
    reads.clear()
    with pytest.raises(RuntimeError, match="kept changing"):
        reshard(pid, 4)
    assert units(pid) == [1, 3, 2]  # the two orders' units, nothing else changed


def test_the_command_line(capsys):
    hot = new_product(5)
    assert stock_shards.main(["--product", hot["product_id"], "--shards", "2"]) == 0
    assert units(hot["product_id"]) == [3, 2] and "stock 5 in 2 shard(s)" in capsys.readouterr().out


def test_an_order_whose_splits_would_pass_the_transaction_limit_is_409_and_writes_nothing(monkeypatch, shopper):
    hot = new_product(6, shards=3)  # 2, 2, 2: 5 units take all three shards
    request = {"items": [{"product_id": hot["product_id"], "quantity": 5}], "payment_token": "tok_visa"}
    from chalicelib.orders import placement

    monkeypatch.setattr(placement, "MAX_TRANSACTION_ITEMS", 4)  # order + outbox + 3 stock updates = 5
    with pytest.raises(Conflict, match="order fewer lines"):
        orders.place_order(shopper.user_id, shopper.email, request)
    assert units(hot["product_id"]) == [2, 2, 2]
    monkeypatch.setattr(placement, "MAX_TRANSACTION_ITEMS", 5)
    assert orders.place_order(shopper.user_id, shopper.email, request)[1] and units(hot["product_id"]) == [0, 0, 1]
