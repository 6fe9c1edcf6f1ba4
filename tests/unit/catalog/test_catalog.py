"""Catalog over HTTP (chalice.test.Client) and its service functions, against the in-process stack.

Tests share one stack: each uses its own SKUs and category names (`uid()`).
"""

import base64
import json
import threading
import uuid

import pytest
from pynamodb.connection.base import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib import pagination
from chalicelib.catalog import api, batch, service
from chalicelib.catalog import products as product_service
from chalicelib.catalog.models import Product, SkuClaim, Stock
from chalicelib.dynamo import transaction
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.events.models import OutboxItem
from ops.stock_migration import move_one, move_stock_out
from tests.users import uid

pytestmark = pytest.mark.usefixtures("stack")

PRODUCT_KEYS = {"product_id", "sku", "name", "description", "price_cents", "currency", "category", "stock",
                "image_url", "thumbnail_url", "created_at", "updated_at"}


def get_products(product_ids) -> dict:
    """The active products among `product_ids`, by id, as the service reads them for orders."""
    return service.get_products_and_shards(product_ids)[0]


def new_fields(**overrides) -> dict:
    return {"sku": uid("SKU"), "name": "Widget", "price_cents": 1999, "stock": 5, **overrides}


def put_products(count: int, **overrides) -> list[dict]:
    """Active products stored directly (one BatchWriteItem), as create_product stores them minus the
    transaction and its event: a quick fixture for list tests."""
    items = [product_service.new_product_items(api.NEW_PRODUCT.validate(new_fields(name=f"item {i}", **overrides)))
             for i in range(count)]
    with Product.batch_write() as batch:
        for item in (item for three in items for item in three):
            batch.save(item)
    return [service.product_view(product, [stock]) for product, stock, _ in items]


def stored(product_id: str, sk: str) -> dict | None:
    """The raw catalog item (`sk` PRODUCT or STOCK) of a product, or None."""
    return Product._get_connection().get_item(f"PRODUCT#{product_id}", sk, consistent_read=True).get("Item")


def index_entries(product_id: str) -> dict:
    """What the two list indexes hold for a product (ALL projection: the whole item)."""
    raw = stored(product_id, "PRODUCT")
    entries = {}
    for index, model in (("gsi1", Product.active), ("gsi2", Product.by_category)):
        pk = raw.get(f"{index}pk", {}).get("S")
        entries[index] = pk and [p.serialize() for p in model.query(pk) if p.product_id == product_id]
    return entries


def post(client, path, body, headers):
    return client.http.post(path, body=body if isinstance(body, bytes) else json.dumps(body), headers=headers)


def patch(client, path, body, headers):
    return client.http.patch(path, body=body if isinstance(body, bytes) else json.dumps(body), headers=headers)


def create(client, admin, **overrides) -> dict:
    response = post(client, "/products", new_fields(**overrides), admin.headers)
    assert response.status_code == 201, response.json_body
    return response.json_body


def list_page(client, **query) -> dict:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    response = client.http.get(f"/products?{qs}" if qs else "/products")
    assert response.status_code == 200, response.json_body
    return response.json_body


def walk(client, **query) -> list[dict]:
    """Every item of a list, page by page."""
    items, cursor = [], None
    while True:
        page = list_page(client, **query, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def outbox_events(product_id: str, event_type: str | None = None) -> list[dict]:
    """The outbox envelopes about `product_id` (a scan: tests only)."""
    bodies = [json.loads(item.body) for item in OutboxItem.scan(OutboxItem.body.contains(product_id))]
    return [b for b in bodies if b["data"].get("product_id") == product_id
            and (event_type is None or b["event_type"] == event_type)]


def b64(raw) -> str:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- happy paths -----------------------------------------------------------------------------------

def test_create_get_and_defaults(client, admin):
    fields = new_fields(name="  Blue Widget  ")
    created = post(client, "/products", fields, admin.headers)
    assert created.status_code == 201
    product = created.json_body
    assert set(product) == PRODUCT_KEYS
    assert product | {"product_id": None, "created_at": None, "updated_at": None} == {
        "product_id": None, "sku": fields["sku"], "name": "Blue Widget", "description": "", "price_cents": 1999,
        "currency": "USD", "category": "general", "stock": 5, "image_url": None, "thumbnail_url": None,
        "created_at": None, "updated_at": None}
    assert product["created_at"].endswith("Z") and product["created_at"] == product["updated_at"]
    assert len(product["product_id"]) == 32
    fetched = client.http.get(f"/products/{product['product_id']}")
    assert fetched.status_code == 200 and fetched.json_body == product


def test_create_with_every_field(client, admin):
    category = uid("cat")
    product = create(client, admin, description="Hand made", currency="EUR", category=category, price_cents=0,
                     stock=1_000_000)
    assert (product["description"], product["currency"], product["category"], product["price_cents"],
            product["stock"]) == ("Hand made", "EUR", category, 0, 1_000_000)
    assert [p["product_id"] for p in walk(client, category=category)] == [product["product_id"]]


def test_lists_are_newest_first_and_only_active(client, admin):
    category = uid("cat")
    first, second = create(client, admin, category=category), create(client, admin, category=category)
    assert [p["product_id"] for p in list_page(client, category=category)["items"]] == [
        second["product_id"], first["product_id"]]
    everything = walk(client, limit=100)
    ids = [p["product_id"] for p in everything]
    assert ids.index(second["product_id"]) < ids.index(first["product_id"])
    assert [p["created_at"] for p in everything] == sorted((p["created_at"] for p in everything), reverse=True)
    assert len(ids) == len(set(ids))


def test_patch_changes_fields_and_moves_category(client, admin):
    old_category, new_category = uid("cat"), uid("cat")
    product = create(client, admin, category=old_category)
    changes = {"name": "Renamed", "description": "Now described", "price_cents": 2500, "currency": "GBP",
               "category": new_category, "stock": 0}
    response = patch(client, f"/products/{product['product_id']}", changes, admin.headers)
    assert response.status_code == 200
    assert response.json_body == {**product, **changes, "updated_at": response.json_body["updated_at"]}
    assert response.json_body["updated_at"] >= product["updated_at"]
    assert client.http.get(f"/products/{product['product_id']}").json_body == response.json_body
    assert walk(client, category=old_category) == []
    assert walk(client, category=new_category) == [response.json_body]


def test_patch_one_field_keeps_the_others(client, admin):
    product = create(client, admin, description="Keep me")
    response = patch(client, f"/products/{product['product_id']}", {"stock": 42}, admin.headers)
    assert response.status_code == 200
    assert response.json_body == {**product, "stock": 42, "updated_at": response.json_body["updated_at"]}


def test_delete_removes_from_lists_and_get(client, admin):
    category = uid("cat")
    kept, doomed = create(client, admin, category=category), create(client, admin, category=category)
    response = client.http.delete(f"/products/{doomed['product_id']}", headers=admin.headers)
    assert response.status_code == 204 and response.body in (b"", "")
    assert client.http.get(f"/products/{doomed['product_id']}").status_code == 404
    assert [p["product_id"] for p in walk(client, category=category)] == [kept["product_id"]]
    assert doomed["product_id"] not in {p["product_id"] for p in walk(client, limit=100)}
    item = Product.get(f"PRODUCT#{doomed['product_id']}", "PRODUCT")
    assert (item.status, item.gsi1pk, item.gsi2pk, item.sku) == ("DELETED", None, None, doomed["sku"])
    stock = Stock.get(f"PRODUCT#{doomed['product_id']}", "STOCK")
    assert (stock.status, stock.stock) == ("DELETED", doomed["stock"])


def test_a_deleted_products_sku_can_be_used_again(client, admin):
    old = create(client, admin)
    assert client.http.delete(f"/products/{old['product_id']}", headers=admin.headers).status_code == 204
    new = create(client, admin, sku=old["sku"])
    assert new["product_id"] != old["product_id"]
    assert service.product_id_for_sku(old["sku"]) == new["product_id"]


# --- errors ----------------------------------------------------------------------------------------

def test_duplicate_sku_is_409_and_writes_nothing(client, admin):
    product = create(client, admin)
    again = post(client, "/products", new_fields(sku=product["sku"], name="Other"), admin.headers)
    assert again.status_code == 409 and again.json_body["Code"] == "ConflictError"
    assert service.product_id_for_sku(product["sku"]) == product["product_id"]
    assert [p.product_id for p in Product.scan(Product.sku == product["sku"])] == [product["product_id"]]


def test_racing_creates_of_one_sku_make_one_product(monkeypatch):
    """Four threads create one sku at once. In-process moto is not thread-safe, so its calls are
    serialised here (as DynamoDB serialises transactions on one item); the order stays arbitrary."""
    lock, original = threading.Lock(), Connection._make_api_call

    def one_at_a_time(self, operation_name, operation_kwargs):
        with lock:
            return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", one_at_a_time)
    sku, results = uid("SKU"), []
    barrier = threading.Barrier(4)

    def create_one(i: int) -> None:
        barrier.wait()
        try:
            results.append(service.create_product(new_fields(sku=sku, name=f"racer {i}"))["product_id"])
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=create_one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r != "conflict"]
    assert len(winners) == 1 and results.count("conflict") == 3
    assert [p.product_id for p in Product.scan(Product.sku == sku)] == winners
    assert service.product_id_for_sku(sku) == winners[0]


def test_a_transaction_claiming_a_taken_sku_is_cancelled():
    """The SKU claim's condition, not a prior read, is what refuses the duplicate."""
    product = service.create_product(new_fields())
    with pytest.raises(TransactWriteError):
        with transaction() as tx:
            tx.save(SkuClaim(pk=f"SKU#{product['sku']}", sk="SKU", product_id="other"),
                    condition=SkuClaim.pk.does_not_exist())
    assert service.product_id_for_sku(product["sku"]) == product["product_id"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_product_is_404(client, admin, method):
    path = f"/products/{uuid.uuid4().hex}"
    if method == "GET":
        response = client.http.get(path)
    elif method == "PATCH":
        response = patch(client, path, {"stock": 1}, admin.headers)
    else:
        response = client.http.delete(path, headers=admin.headers)
    assert response.status_code == 404 and response.json_body["Code"] == "NotFoundError"


def test_deleted_product_is_404_for_patch_and_second_delete(client, admin):
    product = create(client, admin)
    path = f"/products/{product['product_id']}"
    assert client.http.delete(path, headers=admin.headers).status_code == 204
    assert client.http.delete(path, headers=admin.headers).status_code == 404
    assert patch(client, path, {"stock": 9}, admin.headers).status_code == 404
    assert Stock.get(f"PRODUCT#{product['product_id']}", "STOCK").stock == product["stock"]


def test_writes_need_an_admin(client, admin, member):
    product = create(client, admin)
    path = f"/products/{product['product_id']}"
    for headers, status, code in [(member.headers, 403, "ForbiddenError"), ({}, 401, "UnauthorizedError"),
                                  ({"Authorization": "Bearer not.a.token"}, 401, "UnauthorizedError")]:
        responses = [post(client, "/products", new_fields(), headers), patch(client, path, {"stock": 0}, headers),
                     client.http.delete(path, headers=headers)]
        assert [r.status_code for r in responses] == [status] * 3
        if headers:  # without the header at all, API Gateway's own 401 body {"message": ...} may answer
            assert {r.json_body["Code"] for r in responses} == {code}
    assert client.http.get(path).json_body == product


BAD_NEW_PRODUCTS = [
    {"price_cents": 19.99}, {"price_cents": 100.0}, {"price_cents": "1999"}, {"price_cents": -1},
    {"price_cents": 100_000_001}, {"price_cents": True}, {"stock": -1}, {"stock": 1_000_001}, {"stock": 1.5},
    {"stock": None}, {"name": ""}, {"name": "x" * 201}, {"name": 5}, {"description": "x" * 2001},
    {"sku": ""}, {"sku": "x" * 65}, {"sku": "has space"}, {"sku": "ünïcode"}, {"sku": 12},
    {"category": "Books"}, {"category": "x" * 51}, {"category": "a_b"}, {"category": ""},
    {"currency": "usd"}, {"currency": "US"}, {"currency": "EURO"}, {"image_url": "http://x"}, {"status": "ACTIVE"},
    {"product_id": "chosen"}, {"unknown": 1},
]


@pytest.mark.parametrize("override", BAD_NEW_PRODUCTS, ids=lambda o: f"{next(iter(o))}={str(o[next(iter(o))])[:12]}")
def test_bad_new_products_are_400_and_store_nothing(client, admin, override):
    fields = {**new_fields(category=uid("cat")), **override}
    response = post(client, "/products", fields, admin.headers)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"
    assert response.json_body["Errors"]
    if isinstance(fields["sku"], str) and fields["sku"]:
        assert service.product_id_for_sku(fields["sku"]) is None


@pytest.mark.parametrize("missing", ["sku", "name", "price_cents", "stock"])
def test_required_fields(client, admin, missing):
    fields = new_fields()
    del fields[missing]
    response = post(client, "/products", fields, admin.headers)
    assert response.status_code == 400
    assert {"field": missing, "message": "is required"} in response.json_body["Errors"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'"text"', b"null", b'{"price_cents": NaN}',
                                 json.dumps({"description": "x" * (257 * 1024)}).encode()])
def test_malformed_and_oversized_bodies_are_400(client, admin, raw):
    response = post(client, "/products", raw, admin.headers)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"


@pytest.fixture(scope="module")
def patch_target(client, admin):
    return create(client, admin, category=uid("cat"))


@pytest.mark.parametrize("body", [
    {}, {"sku": "NEW-SKU"}, {"price_cents": 1.5}, {"price_cents": "10"}, {"stock": -3}, {"name": None},
    {"name": ""}, {"category": "UPPER"}, {"currency": "usd"}, {"image_url": "x"}, {"status": "DELETED"},
    {"name": "ok", "bogus": True}, {"description": "y" * 2001}, b"{oops", b"[1]",
])
def test_bad_patches_are_400_and_change_nothing(client, admin, patch_target, body):
    product = patch_target
    response = patch(client, f"/products/{product['product_id']}", body, admin.headers)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"
    assert client.http.get(f"/products/{product['product_id']}").json_body == product
    assert outbox_events(product["product_id"], "ProductUpdated") == []


# --- pagination ------------------------------------------------------------------------------------

def test_pagination_walks_every_item_exactly_once(client, admin):
    category = uid("cat")
    ids = {p["product_id"] for p in put_products(7, category=category)}
    for limit in (1, 2, 3, 7, 100):
        pages, cursor = [], None
        while True:
            page = list_page(client, category=category, limit=limit, **({"cursor": cursor} if cursor else {}))
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        seen = [p["product_id"] for items in pages for p in items]
        assert sorted(seen) == sorted(ids) and len(seen) == len(ids), limit
        assert all(len(items) == limit for items in pages[:-1]) and 1 <= len(pages[-1]) <= limit
        assert len(pages) == -(-len(ids) // limit)  # no empty trailing page


def test_default_page_size_is_20(client, admin):
    category = uid("cat")
    put_products(21, category=category)
    first = list_page(client, category=category)
    assert len(first["items"]) == 20 and first["next_cursor"]
    rest = list_page(client, category=category, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_an_empty_category_is_an_empty_page(client):
    assert list_page(client, category=uid("cat")) == {"items": [], "next_cursor": None}


def _cursor_of(client, **query) -> str:
    cursor = list_page(client, limit=1, **query)["next_cursor"]
    assert cursor
    return cursor


def test_bad_cursors_and_limits_are_400(client, admin):
    books, games = uid("cat"), uid("cat")
    put_products(2, category=books)
    put_products(2, category=games)
    books_cursor, games_cursor = _cursor_of(client, category=books), _cursor_of(client, category=games)
    all_cursor = _cursor_of(client)
    key = json.loads(base64.urlsafe_b64decode(books_cursor + "=" * (-len(books_cursor) % 4)))["k"]
    bad_queries = {
        "garbage": f"category={books}&cursor=!!!not-a-cursor",
        "not json": f"category={books}&cursor={b64(b'hello there')}",
        "other json": f"category={books}&cursor={b64({'a': 1})}",
        "a list": f"category={books}&cursor={b64([1, 2])}",
        "invalid utf-8": f"category={books}&cursor={b64(bytes([0xff, 0xfe, 0x7b]))}",
        "other category": f"category={books}&cursor={games_cursor}",
        "all-products cursor on a category": f"category={books}&cursor={all_cursor}",
        "category cursor on all products": f"cursor={books_cursor}",
        "forged partition": f"category={books}&cursor=" + b64(
            {"s": f"products:category={books}", "k": {**key, "gsi2pk": {"S": f"CATEGORY#{games}"}}}),
        "missing key": f"category={books}&cursor=" + b64(
            {"s": f"products:category={books}", "k": {n: v for n, v in key.items() if n != "sk"}}),
        "extra key": f"category={books}&cursor=" + b64(
            {"s": f"products:category={books}", "k": {**key, "gsi1pk": {"S": "ACTIVE"}}}),
        "number typed key": f"category={books}&cursor=" + b64(
            {"s": f"products:category={books}", "k": {**key, "gsi2sk": {"N": "5"}}}),
        "map typed key": f"category={books}&cursor=" + b64(
            {"s": f"products:category={books}", "k": {**key, "sk": {"M": {}}}}),
        "empty cursor": f"category={books}&cursor=",
        "too long": f"category={books}&cursor={'A' * 3000}",
        "limit 0": "limit=0", "limit 101": "limit=101", "limit -1": "limit=-1", "limit text": "limit=ten",
        "limit float": "limit=2.5", "bad category": "category=Not_A_Slug", "unknown param": "sort=name",
    }
    for label, query in bad_queries.items():
        response = client.http.get(f"/products?{query}")
        assert response.status_code == 400, label
        assert response.json_body["Code"] == "BadRequestError", label
    assert len(list_page(client, category=books, cursor=books_cursor)["items"]) == 1  # the real one still works


def test_cursor_round_trip_and_rejections():
    key = {"pk": {"S": "PRODUCT#1"}, "sk": {"S": "PRODUCT"}, "gsi2pk": {"S": "CATEGORY#a"}, "gsi2sk": {"S": "t#1"}}
    names, fixed = set(key), {"gsi2pk": "CATEGORY#a"}
    cursor = pagination.encode_cursor("products:category=a", key)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    assert pagination.decode_cursor(cursor, "products:category=a", names, fixed) == key
    for scope, names_, fixed_ in [("products:category=b", names, fixed), ("products:category=a", names - {"sk"}, fixed),
                                  ("products:category=a", names, {"gsi2pk": "CATEGORY#b"})]:
        with pytest.raises(InvalidInput, match="Malformed cursor"):
            pagination.decode_cursor(cursor, scope, names_, fixed_)
    numbered = pagination.encode_cursor("s", {"pk": {"S": "a"}, "n": {"N": "12"}})
    assert pagination.decode_cursor(numbered, "s", {"pk", "n"}, {}, number_keys=frozenset({"n"})) == {
        "pk": {"S": "a"}, "n": {"N": "12"}}
    with pytest.raises(InvalidInput):
        pagination.decode_cursor(numbered, "s", {"pk", "n"}, {})  # n must be declared a number
    assert pagination.page_of([], "s", None) == {"items": [], "next_cursor": None}


# --- events ----------------------------------------------------------------------------------------

def test_each_change_records_exactly_one_event(client, admin):
    product = create(client, admin, category=uid("cat"))
    pid = product["product_id"]
    post(client, "/products", new_fields(sku=product["sku"]), admin.headers)  # a 409 records nothing
    created = outbox_events(pid, "ProductCreated")
    assert len(created) == 1
    assert created[0]["data"] == {k: v for k, v in product.items()}
    assert created[0]["version"] == 1 and created[0]["event_id"] and created[0]["occurred_at"].endswith("Z")

    patch(client, f"/products/{pid}", {"price_cents": 1, "stock": 2}, admin.headers)
    updated = outbox_events(pid, "ProductUpdated")
    assert [e["data"] for e in updated] == [{"product_id": pid, "sku": product["sku"], "price_cents": 1, "stock": 2}]

    client.http.delete(f"/products/{pid}", headers=admin.headers)
    client.http.delete(f"/products/{pid}", headers=admin.headers)  # 404: records nothing
    deleted = outbox_events(pid, "ProductDeleted")
    assert [e["data"] for e in deleted] == [{"product_id": pid, "sku": product["sku"]}]
    assert len(outbox_events(pid)) == 3


# --- AWS calls per request -------------------------------------------------------------------------

def test_a_list_is_one_query_and_one_batch_get_and_a_product_one_batch_get(client, admin, dynamo_calls):
    category = uid("cat")
    product, _ = put_products(2, category=category)
    dynamo_calls.clear()
    first = list_page(client, category=category, limit=1)
    assert dynamo_calls == ["Query", "BatchGetItem"]
    dynamo_calls.clear()
    list_page(client, category=category, limit=1, cursor=first["next_cursor"])
    assert dynamo_calls == ["Query", "BatchGetItem"]
    dynamo_calls.clear()
    full = uid("cat")
    put_products(100, category=full)
    dynamo_calls.clear()
    assert len(list_page(client, category=full, limit=100)["items"]) == 100  # a full page's STOCK items: one call
    assert dynamo_calls == ["Query", "BatchGetItem"]
    dynamo_calls.clear()
    assert list_page(client, category=uid("cat"))["items"] == []
    assert dynamo_calls == ["Query"]  # nothing to read stock for
    dynamo_calls.clear()
    assert client.http.get(f"/products/{product['product_id']}").json_body == product
    assert dynamo_calls == ["BatchGetItem"]  # its item and its STOCK item
    dynamo_calls.clear()
    create(client, admin)
    assert dynamo_calls == ["TransactWriteItems"]


# --- the STOCK item (docs/scaling.md) ---------------------------------------------------------------

def test_stock_is_an_item_of_its_own_that_no_index_holds(client, admin):
    product = create(client, admin, stock=7, category=uid("cat"))
    item, stock = stored(product["product_id"], "PRODUCT"), stored(product["product_id"], "STOCK")
    assert "stock" not in item
    assert stock == {"pk": item["pk"], "sk": {"S": "STOCK"}, "stock": {"N": "7"}, "status": {"S": "ACTIVE"},
                     "updated_at": {"S": product["updated_at"]}}
    entries = index_entries(product["product_id"])
    assert entries["gsi1"] == entries["gsi2"] == [item] and "stock" not in entries["gsi1"][0]


def test_a_stock_patch_sets_the_stock_item(client, admin):
    product = create(client, admin, stock=3, category=uid("cat"))
    response = patch(client, f"/products/{product['product_id']}", {"stock": 40}, admin.headers)
    assert response.status_code == 200 and response.json_body["stock"] == 40
    assert response.json_body["updated_at"] >= product["updated_at"]
    assert client.http.get(f"/products/{product['product_id']}").json_body == response.json_body
    assert stored(product["product_id"], "STOCK")["stock"] == {"N": "40"}
    assert "stock" not in stored(product["product_id"], "PRODUCT")
    assert client.http.delete(f"/products/{product['product_id']}", headers=admin.headers).status_code == 204
    assert patch(client, f"/products/{product['product_id']}", {"stock": 1}, admin.headers).status_code == 404
    assert stored(product["product_id"], "STOCK")["stock"] == {"N": "40"}  # the product's condition held


def test_a_list_reads_again_the_stock_an_eventually_consistent_read_missed(client, monkeypatch, dynamo_calls):
    category = uid("cat")
    products = put_products(2, category=category)
    original = batch.read_items

    def lagging(keys, consistent):  # as a replica that has not yet seen the STOCK items
        found = original(keys, consistent)
        return found if consistent else {}

    monkeypatch.setattr(product_service, "read_items", lagging)
    dynamo_calls.clear()
    assert sorted(list_page(client, category=category)["items"], key=lambda p: p["product_id"]) == sorted(
        products, key=lambda p: p["product_id"])
    assert dynamo_calls == ["Query", "BatchGetItem", "BatchGetItem"]  # the lagging read, then the re-read


def old_layout_product(stock: int, **overrides) -> dict:
    """A product as the code before the STOCK item stored it: stock on the product item, no STOCK item."""
    fields = api.NEW_PRODUCT.validate(new_fields(stock=stock, **overrides))
    product, _, claim = product_service.new_product_items(fields)
    product.stock = stock
    product.save()
    claim.save()
    return service.product_view(product, [])


def test_an_old_layout_product_reads_its_own_stock_and_refuses_stock_writes_until_moved(client):
    product = old_layout_product(4)
    pid = product["product_id"]
    assert product["stock"] == 4 and client.http.get(f"/products/{pid}").json_body == product
    assert get_products([pid]) == {pid: product}
    assert product in walk(client, category=product["category"])
    for write in (service.stock_reserve, service.stock_release):
        with pytest.raises(TransactWriteError):
            with transaction() as tx:
                write(tx, pid, 1)
    assert stored(pid, "STOCK") is None and stored(pid, "PRODUCT")["stock"] == {"N": "4"}


def test_the_migration_moves_stock_out_of_product_items_once():
    plain, deleted, patched = old_layout_product(4), old_layout_product(0), old_layout_product(9)
    service.delete_product(deleted["product_id"])  # deleting an old-layout product makes its STOCK item...
    assert stored(deleted["product_id"], "STOCK")["stock"] == {"N": "0"}  # ...from its own stock attribute
    service.update_product(patched["product_id"], {"stock": 2})  # a PATCH after the deploy: the newer value
    assert move_stock_out() >= 2 and move_stock_out() == 0
    for product, stock, status in ((plain, 4, "ACTIVE"), (deleted, 0, "DELETED"), (patched, 2, "ACTIVE")):
        item, stock_item = stored(product["product_id"], "PRODUCT"), stored(product["product_id"], "STOCK")
        assert "stock" not in item
        assert (stock_item["stock"], stock_item["status"]) == ({"N": str(stock)}, {"S": status})
    assert stored(plain["product_id"], "STOCK")["updated_at"] == {"S": plain["updated_at"]}
    assert service.get_product(plain["product_id"]) == plain
    with transaction() as tx:
        service.stock_reserve(tx, plain["product_id"], 4)
    assert service.get_product(plain["product_id"])["stock"] == 0


def test_the_migration_rereads_a_product_that_changed_since_it_was_read():
    product = old_layout_product(5)
    key = (f"PRODUCT#{product['product_id']}", "PRODUCT")
    stale = Product.get(*key)
    Product.get(*key).update(actions=[Product.stock.add(-2)])  # an order served by the previous code
    move_one(stale)
    moved = stored(product["product_id"], "STOCK")
    assert moved["stock"] == {"N": "3"} and "stock" not in stored(product["product_id"], "PRODUCT")
    move_one(stale)  # moved already: nothing changes
    assert stored(product["product_id"], "STOCK") == moved


# --- functions for other services ------------------------------------------------------------------

def test_get_products_is_one_batch_get_with_stock(dynamo_calls):
    live, (gone,) = put_products(3), put_products(1)
    service.delete_product(gone["product_id"])
    ids = [p["product_id"] for p in live] + [gone["product_id"], "unknown-id", live[0]["product_id"]]
    dynamo_calls.clear()
    found = get_products(ids)
    assert dynamo_calls == ["BatchGetItem"]
    assert found == {p["product_id"]: p for p in live}
    many = put_products(50)
    dynamo_calls.clear()
    assert set(get_products(p["product_id"] for p in many)) == {p["product_id"] for p in many}
    assert dynamo_calls == ["BatchGetItem"]  # 50 products, 100 keys: an order's 50 lines in one call
    dynamo_calls.clear()
    assert get_products([]) == {} and dynamo_calls == []


def test_stock_release_adds_within_a_transaction():
    product = service.create_product(new_fields(stock=3))
    with transaction() as tx:
        service.stock_release(tx, product["product_id"], 4)
    assert service.get_product(product["product_id"])["stock"] == 7
    missing = uuid.uuid4().hex
    with pytest.raises(TransactWriteError):
        with transaction() as tx:
            service.stock_release(tx, missing, 1)
    assert stored(missing, "STOCK") is None  # no stray item
    for quantity in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            service.stock_release(None, product["product_id"], quantity)


def test_stock_reserve_never_goes_negative():
    product = service.create_product(new_fields(stock=3))
    with transaction() as tx:
        service.stock_reserve(tx, product["product_id"], 2)
    assert service.get_product(product["product_id"])["stock"] == 1
    with pytest.raises(TransactWriteError) as cancelled:
        with transaction() as tx:
            service.stock_reserve(tx, product["product_id"], 2)
    assert [r.code for r in cancelled.value.cancellation_reasons if r] == ["ConditionalCheckFailed"]
    assert service.get_product(product["product_id"])["stock"] == 1
    service.delete_product(product["product_id"])
    with pytest.raises(TransactWriteError):
        with transaction() as tx:
            service.stock_reserve(tx, product["product_id"], 1)  # a deleted product is not sold
    assert Stock.get(f"PRODUCT#{product['product_id']}", "STOCK").stock == 1
    with pytest.raises(ValueError):
        service.stock_reserve(None, product["product_id"], 0)


def test_a_product_deleted_after_it_was_read_is_404_not_500(monkeypatch):
    """The transactions' own conditions catch a delete that lands between the read and the write."""
    product = service.create_product(new_fields())
    stale = product_service.load_active(product["product_id"])
    service.delete_product(product["product_id"])
    monkeypatch.setattr(product_service, "load_active", lambda product_id: stale)
    with pytest.raises(NotFound):
        service.update_product(product["product_id"], {"stock": 1})
    with pytest.raises(NotFound):
        service.delete_product(product["product_id"])
    assert len(outbox_events(product["product_id"])) == 2  # created, deleted: nothing more


def test_the_request_schemas_validate_and_the_service_refuses_an_empty_change():
    with pytest.raises(InvalidInput):
        api.NEW_PRODUCT.validate(new_fields(price_cents=1.5))
    with pytest.raises(InvalidInput):
        api.PRODUCT_CHANGES.validate({"price_cents": 1.5})
    with pytest.raises(InvalidInput, match="Nothing to change"):
        service.update_product(uuid.uuid4().hex, {})


def test_seed_catalog_is_idempotent(client):
    from devstack.seed_catalog import SAMPLE_PRODUCTS, seed_catalog

    assert sorted(seed_catalog()) == sorted(p["sku"] for p in SAMPLE_PRODUCTS)
    assert seed_catalog() == []
    categories = {p["category"] for p in SAMPLE_PRODUCTS}
    assert len(SAMPLE_PRODUCTS) >= 8 and len(categories) == 3
    listed = [p for c in categories for p in walk(client, category=c)]
    assert sorted(p["sku"] for p in listed) == sorted(p["sku"] for p in SAMPLE_PRODUCTS)


def test_openapi_documents_the_catalog(client):
    paths = client.http.get("/openapi.json").json_body["paths"]
    assert set(paths["/products"]) == {"get", "post"}
    assert set(paths["/products/{product_id}"]) == {"get", "patch", "delete"}
    product_schema = paths["/products/{product_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert set(product_schema["schema"]["required"]) == PRODUCT_KEYS
    assert {"401", "403", "409"} <= set(paths["/products"]["post"]["responses"])
