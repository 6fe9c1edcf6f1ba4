"""Every accounts and products route of the API contract, over HTTP through `chalice local` on moto server."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.test_order_saga import PASSWORD, Api, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def admin(devstack) -> Api:
    return log_in(devstack, "admin@example.com", "Admin-Passw0rd!")


def test_sign_up_log_in_refresh_and_profile(devstack):
    anonymous = Api(devstack)
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    created = anonymous.call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Ada"})
    assert created.status_code == 201 and created.json()["email"] == email
    assert anonymous.call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Ada"}
                          ).status_code == 409
    assert anonymous.call("POST", "/auth/signup", {"email": "x@y.zz", "password": "weak", "name": "A"}
                          ).status_code == 400
    assert anonymous.call("POST", "/auth/login", {"email": email, "password": "Wrong-Passw0rd!"}).status_code == 401
    tokens = anonymous.call("POST", "/auth/login", {"email": email, "password": PASSWORD}).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    refreshed = anonymous.call("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    me = Api(devstack, refreshed.json()["id_token"])
    profile = me.call("GET", "/users/me").json()
    assert profile["user_id"] == created.json()["user_id"] and profile["is_admin"] is False
    address = {"line1": "1 Rue X", "city": "Paris", "postal_code": "75001", "country": "FR"}
    patched = me.call("PATCH", "/users/me", {"name": "Ada L.", "shipping_address": address})
    assert patched.status_code == 200 and patched.json()["shipping_address"]["city"] == "Paris"
    assert me.call("PATCH", "/users/me", {"shipping_address": {"city": "Paris"}}).status_code == 400
    assert me.call("GET", f"/users/{profile['user_id']}").json()["name"] == "Ada L."


def test_profiles_are_private_and_tokens_checked(devstack, admin):
    alice = log_in_new(devstack)
    bob = log_in_new(devstack)
    alice_id = alice.call("GET", "/users/me").json()["user_id"]
    assert bob.call("GET", f"/users/{alice_id}").status_code == 404
    assert admin.call("GET", f"/users/{alice_id}").status_code == 200
    for token in ("", "not-a-jwt", alice.token[:-4] + "AAAA", "a.b.c"):
        response = Api(devstack, token).call("GET", "/users/me")
        assert response.status_code == 401, token
    header, payload, _ = alice.token.split(".")
    assert Api(devstack, f"{header}.{payload}.").call("GET", "/users/me").status_code == 401


def log_in_new(devstack) -> Api:
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    Api(devstack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "U"})
    return log_in(devstack, email, PASSWORD)


def test_products_create_read_update_list_delete(devstack, admin):
    anonymous, shopper = Api(devstack), log_in_new(devstack)
    category = f"cat-{uuid.uuid4().hex[:6]}"
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    body = {"sku": sku, "name": "Lamp", "price_cents": 4500, "stock": 7, "category": category}
    assert shopper.call("POST", "/products", body).status_code == 403
    assert anonymous.call("POST", "/products", body).status_code == 401
    created = admin.call("POST", "/products", body)
    assert created.status_code == 201
    product = created.json()
    assert product | {"product_id": None, "created_at": None, "updated_at": None} == {
        "product_id": None, "sku": sku, "name": "Lamp", "description": "", "price_cents": 4500, "currency": "USD",
        "category": category, "stock": 7, "image_url": None, "thumbnail_url": None,
        "created_at": None, "updated_at": None}
    assert admin.call("POST", "/products", body).status_code == 409
    assert admin.call("POST", "/products", {**body, "sku": "X-1", "price_cents": 45.0}).status_code == 400
    assert admin.call("POST", "/products", {**body, "sku": "X-2", "stock": -1}).status_code == 400
    path = f"/products/{product['product_id']}"
    assert anonymous.call("GET", path).json() == product
    second = admin.call("POST", "/products", {**body, "sku": sku + "-2", "name": "Lamp 2"}).json()
    listed = anonymous.call("GET", f"/products?category={category}&limit=1").json()
    assert [p["product_id"] for p in listed["items"]] == [second["product_id"]]  # newest first
    rest = anonymous.call("GET", f"/products?category={category}&limit=1&cursor={listed['next_cursor']}").json()
    assert [p["product_id"] for p in rest["items"]] == [product["product_id"]] and rest["next_cursor"] is None
    assert anonymous.call("GET", "/products?limit=0").status_code == 400
    assert anonymous.call("GET", "/products?cursor=bogus").status_code == 400
    patched = admin.call("PATCH", path, {"price_cents": 3900, "stock": 2})
    assert patched.status_code == 200 and (patched.json()["price_cents"], patched.json()["stock"]) == (3900, 2)
    assert admin.call("PATCH", path, {}).status_code == 400
    assert admin.call("PATCH", path, {"sku": "NEW"}).status_code == 400
    assert shopper.call("DELETE", path).status_code == 403
    assert admin.call("DELETE", path).status_code == 204
    assert anonymous.call("GET", path).status_code == 404
    assert admin.call("DELETE", path).status_code == 404
    remaining = anonymous.call("GET", f"/products?category={category}").json()["items"]
    assert [p["product_id"] for p in remaining] == [second["product_id"]]


def test_refresh_for_a_deleted_user_is_a_503_not_the_emulators_html_500(devstack):
    """Issue 14, item 9: moto server answers this InitiateAuth with an HTML 500, and so did the API."""
    anonymous, email = Api(devstack), f"gone-{uuid.uuid4().hex[:8]}@example.com"
    assert anonymous.call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Gone"}
                          ).status_code == 201
    login = anonymous.call("POST", "/auth/login", {"email": email, "password": PASSWORD})
    refresh_token = login.json()["refresh_token"]
    cognito = devstack.client("cognito-idp")
    [pool] = [p for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "storefront-local-users"]
    cognito.admin_delete_user(UserPoolId=pool["Id"], Username=email)
    response = anonymous.call("POST", "/auth/refresh", {"refresh_token": refresh_token})
    assert response.status_code == 503, response.text
    assert response.json()["Code"] == "ServiceUnavailableError"


def test_search_sort_and_categories_through_the_dev_stack(devstack, admin):
    tag = "e" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    category = f"e2e-{uuid.uuid4().hex[:8]}"
    made = []
    for name, price in ((f"Gooseneck {tag} Kettle", 5900), (f"Café {tag} Cup", 900), (f"{tag} Plate", 2500)):
        created = admin.call("POST", "/products", {"sku": f"E2E-{uuid.uuid4().hex[:8]}", "name": name,
                                                   "price_cents": price, "stock": 3, "category": category})
        assert created.status_code == 201, created.text
        made.append(created.json())
    anonymous = Api(devstack)
    found = anonymous.call("GET", f"/products?q=kett%20{tag[:5]}").json()
    assert [p["product_id"] for p in found["items"]] == [made[0]["product_id"]] and found["next_cursor"] is None
    assert [p["name"] for p in anonymous.call("GET", f"/products?q=CAFE%20{tag}").json()["items"]] == [made[1]["name"]]
    cheapest = anonymous.call("GET", f"/products?q={tag}&category={category}&sort=price_asc&limit=2").json()
    assert [p["price_cents"] for p in cheapest["items"]] == [900, 2500] and cheapest["next_cursor"]
    rest = anonymous.call("GET", f"/products?q={tag}&category={category}&sort=price_asc&limit=2"
                                 f"&cursor={cheapest['next_cursor']}").json()
    assert [p["price_cents"] for p in rest["items"]] == [5900] and rest["next_cursor"] is None
    by_price = anonymous.call("GET", f"/products?category={category}&sort=price_desc").json()["items"]
    assert [p["price_cents"] for p in by_price] == [5900, 2500, 900]
    assert anonymous.call("GET", "/products?q=" + "x" * 101).status_code == 400
    assert anonymous.call("GET", "/products?sort=cheapest").status_code == 400
    assert anonymous.call("GET", f"/products?q={tag}&cursor=not-a-cursor").status_code == 400
    categories, cursor = {}, None
    while True:
        page = anonymous.call("GET", "/categories?limit=100" + (f"&cursor={cursor}" if cursor else "")).json()
        categories |= {c["category"]: c["products"] for c in page["items"]}
        if not (cursor := page["next_cursor"]):
            break
    assert categories[category] == 3
    assert admin.call("DELETE", f"/products/{made[0]['product_id']}").status_code == 204
    assert anonymous.call("GET", f"/products?q=kett%20{tag}").json()["items"] == []
