"""Search, sort and categories of the catalog (contract section 3) over HTTP, against the in-process stack:
the index is written in the product's own transactions and by imports, and every read stays a Query."""

import base64
import json
import uuid

import pytest

from chalicelib.search import terms
from chalicelib.search.models import SearchEntry, entry_pk
from tests.users import uid

pytestmark = pytest.mark.usefixtures("stack")


def word() -> str:
    """A word no other test uses (letters only, so it is one word)."""
    return "w" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:9])


def create(client, admin, **fields) -> dict:
    body = {"sku": uid("SKU"), "name": "Widget", "price_cents": 1000, "stock": 5, **fields}
    response = client.http.post("/products", body=json.dumps(body), headers=admin.headers)
    assert response.status_code == 201, response.json_body
    return response.json_body


def get(client, path: str):
    return client.http.get(path)


def page(client, **query) -> dict:
    response = get(client, "/products?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert response.status_code == 200, response.json_body
    return response.json_body


def walk(client, **query) -> list[dict]:
    items, cursor = [], None
    while True:
        body = page(client, **query, **({"cursor": cursor} if cursor else {}))
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def ids(items) -> list[str]:
    return [item["product_id"] for item in items]


def test_folding_and_words():
    assert terms.fold("Café CRÈME Straße") == "cafe creme strasse"
    assert terms.words_of("Gooseneck Kettle (1.2 l) BOOK-002") == ["gooseneck", "kettle", "1", "2", "l", "book", "002"]
    assert terms.terms_of("Kettle", "K-1", "kitchen")[:2] == ["*", "c:kitchen"]
    assert set(terms.terms_of("Kettle", "K-1", "kitchen")) == {
        "*", "c:kitchen", "w:k", "w:ke", "w:ket", "w:1", "w:ki", "w:kit"}
    assert terms.query_term(["a", "kettle", "go"]) == "w:ket"
    assert terms.matches(["kett", "goo"], ["gooseneck", "kettle"])
    assert not terms.matches(["kettles"], ["gooseneck", "kettle"])


def test_every_word_of_q_is_a_prefix_of_a_word_of_name_sku_or_category(client, admin):
    tag = word()
    category = uid("kitchen")
    kettle = create(client, admin, name=f"Gooseneck {tag} Kettle", sku=uid("KET"), category=category)
    cafe = create(client, admin, name=f"Café {tag} Crème", category=category)
    other = create(client, admin, name=f"Plain {tag} Plate")
    assert ids(walk(client, q="kett " + tag[:5])) == [kettle["product_id"]]
    assert ids(walk(client, q=f"CAFE {tag.upper()}")) == [cafe["product_id"]]  # accents and case folded
    assert ids(walk(client, q=f"crème {tag}")) == [cafe["product_id"]]
    assert set(ids(walk(client, q=tag))) == {kettle["product_id"], cafe["product_id"], other["product_id"]}
    assert ids(walk(client, q=f"{tag} {category.split('-')[1][:4]}")) == [cafe["product_id"], kettle["product_id"]]
    assert ids(walk(client, q=f"{tag} {kettle['sku'].split('-')[1]}")) == [kettle["product_id"]]  # a word of the SKU
    assert walk(client, q=f"{tag} kettles") == []  # a query word longer than every product word
    assert walk(client, q=f"ettle {tag}") == []  # a prefix, not a substring
    found = walk(client, q=tag, category=category)
    assert ids(found) == [cafe["product_id"], kettle["product_id"]]  # q combines with category, newest first
    assert found[0] == get(client, f"/products/{cafe['product_id']}").json_body  # the same product JSON


def test_sort_by_price_and_newest_with_and_without_q_paged(client, admin):
    tag = word()
    category = uid("sorted")
    made = [create(client, admin, name=f"{tag} item {i}", price_cents=price, category=category)
            for i, price in enumerate((500, 100, 900, 300, 700))]
    by_price = [p["product_id"] for p in sorted(made, key=lambda p: p["price_cents"])]
    newest = ids(reversed(made))
    for query in ({"q": tag}, {"category": category}, {"q": tag, "category": category}):
        assert ids(walk(client, **query, sort="price_asc", limit=2)) == by_price
        assert ids(walk(client, **query, sort="price_desc", limit=2)) == by_price[::-1]
        assert ids(walk(client, **query, sort="newest", limit=2)) == newest
        assert ids(walk(client, **query, limit=3)) == newest  # newest is the default
    first = page(client, q=tag, sort="price_asc", limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    last = page(client, q=tag, sort="price_asc", limit=5)
    assert len(last["items"]) == 5 and last["next_cursor"] is None  # a full last page says so


@pytest.mark.parametrize("query, message", [
    ("q=", "q"), ("q=" + "a" * 101, "q"), ("q=%20%20", "q"), ("sort=cheapest", "sort"), ("sort=", "sort"),
    ("q=a&limit=0", "limit"), ("q=a&limit=101", "limit"), ("q=a&cursor=%%%", "cursor"),
])
def test_bad_search_input_is_a_400(client, query, message):
    response = get(client, f"/products?{query}")
    assert response.status_code == 400, response.json_body
    assert response.json_body["Code"] == "BadRequestError" and message in json.dumps(response.json_body).lower()


def test_a_cursor_only_continues_its_own_search(client, admin):
    tag = word()
    for i in range(3):
        create(client, admin, name=f"{tag} thing {i}")
    cursor = page(client, q=tag, limit=1)["next_cursor"]
    assert cursor
    for other in (f"q={tag}x", f"q={tag}&sort=price_asc", f"q={tag}&category=general2", "sort=price_asc", ""):
        response = get(client, f"/products?{other}&cursor={cursor}")
        assert response.status_code == 400 and response.json_body["Message"] == "Malformed cursor", other
    forged = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged["k"]["pk"]["S"] = "PRODUCT#x"
    raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert get(client, f"/products?q={tag}&limit=1&cursor={raw}").status_code == 400


def test_the_index_follows_changes_and_deletes(client, admin):
    tag, new = word(), word()
    category, moved = uid("before"), uid("after")
    product = create(client, admin, name=f"{tag} Lamp", price_cents=100, category=category)
    cheap = create(client, admin, name=f"{tag} Candle", price_cents=200, category=category)
    pid = product["product_id"]
    changed = client.http.patch(f"/products/{pid}", headers=admin.headers,
                                body=json.dumps({"name": f"{new} Lantern", "price_cents": 300, "category": moved}))
    assert changed.status_code == 200, changed.json_body
    assert ids(walk(client, q=tag)) == [cheap["product_id"]]  # the old words no longer find it
    assert ids(walk(client, q=f"{new} lant")) == [pid]
    assert ids(walk(client, q=new, category=moved)) == [pid] and walk(client, q=new, category=category) == []
    assert ids(walk(client, category=moved, sort="price_asc")) == [pid]
    assert ids(walk(client, category=category, sort="price_asc")) == [cheap["product_id"]]
    stock_only = client.http.patch(f"/products/{pid}", headers=admin.headers, body=json.dumps({"stock": 1}))
    assert stock_only.status_code == 200
    assert walk(client, q=new)[0]["stock"] == 1
    assert client.http.delete(f"/products/{pid}", headers=admin.headers).status_code == 204
    assert walk(client, q=new) == [] and walk(client, category=moved, sort="price_desc") == []
    assert not [e for e in SearchEntry.query(entry_pk(f"w:{new[:3]}")) if e.product_id == pid]


def all_categories(client) -> dict[str, int]:
    items, cursor = [], None
    while True:
        response = get(client, "/categories?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.json_body
        items += response.json_body["items"]
        cursor = response.json_body["next_cursor"]
        if cursor is None:
            return {item["category"]: item["products"] for item in items}


def test_categories_are_every_category_with_an_active_product(client, admin):
    first, second = uid("cata"), uid("catb")
    a = create(client, admin, category=first)
    create(client, admin, category=first)
    b = create(client, admin, category=second)

    def counts() -> dict[str, int]:
        return all_categories(client)

    assert counts()[first] == 2 and counts()[second] == 1
    assert client.http.patch(f"/products/{b['product_id']}", headers=admin.headers,
                             body=json.dumps({"category": first})).status_code == 200
    assert counts()[first] == 3 and second not in counts()  # an emptied category is not listed
    assert client.http.delete(f"/products/{a['product_id']}", headers=admin.headers).status_code == 204
    assert counts()[first] == 2
    assert get(client, "/categories?limit=0").status_code == 400
    assert get(client, "/categories?cursor=bad!").status_code == 400


def test_imports_keep_the_index(client, admin):
    from chalicelib.catalog import service
    from chalicelib.catalog.api import NEW_PRODUCT

    tag, new = word(), word()
    sku = uid("IMPSKU")
    [created] = service.upsert_products([NEW_PRODUCT.validate(
        {"sku": sku, "name": f"{tag} Imported", "price_cents": 50, "stock": 2, "category": "imports"})], uid("seed"))
    assert ids(walk(client, q=tag)) == [created.product_id]
    service.upsert_products([NEW_PRODUCT.validate(
        {"sku": sku, "name": f"{new} Renamed", "price_cents": 60, "stock": 2, "category": "imports"})], uid("seed"))
    assert walk(client, q=tag) == [] and ids(walk(client, q=new)) == [created.product_id]
    assert walk(client, q=new)[0]["price_cents"] == 60


def test_too_many_distinct_words_for_the_index_is_a_400(client, admin):
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = " ".join(letters[i:i + 3] for i in range(20))  # 20 words: 60 different beginnings
    response = client.http.post("/products", headers=admin.headers, body=json.dumps(
        {"sku": uid("LONG"), "name": name, "price_cents": 1, "stock": 1}))
    assert response.status_code == 400 and "words" in response.json_body["Message"]


def test_openapi_documents_q_sort_and_categories(client):
    spec = get(client, "/openapi.json").json_body
    params = {p["name"]: p for p in spec["paths"]["/products"]["get"]["parameters"]}
    assert params["q"]["schema"]["minLength"] == 1 and params["q"]["schema"]["maxLength"] == 100
    assert params["sort"]["schema"]["enum"] == ["newest", "price_asc", "price_desc"]
    assert "/categories" in spec["paths"]


def test_the_operator_command_indexes_products_made_before_the_index(client):
    from chalicelib.catalog import products
    from chalicelib.catalog.models import Product
    from ops.search_index import build_index

    tag, category = word(), uid("old")
    product, stock, claim = products.new_product_items(
        {"sku": uid("OLD"), "name": f"{tag} Heirloom", "price_cents": 10, "stock": 1, "category": category})
    with Product.batch_write() as batch:  # as the code before the index stored products
        for item in (product, stock, claim):
            batch.save(item)
    assert walk(client, q=tag) == []
    build_index()
    assert ids(walk(client, q=tag)) == [product.product_id]
    assert ids(walk(client, category=category, sort="price_asc")) == [product.product_id]
    assert all_categories(client)[category] == 1
    build_index()  # again: nothing changes
    assert ids(walk(client, q=tag)) == [product.product_id]
