"""Every screen of both roles at 1280 and 390 px: no serious or critical axe-core violation, no sideways
scrolling, a title of its own, no literal "null", and header links that are 44 px tap targets."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.axe import assert_accessible
from tests.browser.conftest import ADMIN, WIDTHS, add_to_cart, create_product, log_in, sign_up, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SAGA_MS = 30_000


def check_screens(page, screens: list[tuple[str, str]]) -> None:
    """Open each (name, path) and check it at both widths."""
    for name, path in screens:
        page.goto(path)
        heading = page.locator("main h1")
        expect(heading).to_be_visible()
        expect(page.locator(".loading")).to_have_count(0)
        page.wait_for_load_state("networkidle")
        for width, height in WIDTHS.values():
            page.set_viewport_size({"width": width, "height": height})
            assert_accessible(page, name)
        assert re.fullmatch(r".+ · Storefront|Storefront", page.title()), page.title()
        assert "null" not in page.locator("main").inner_text().split(), f"a literal null on {name}"


def place_order(page) -> str:
    page.goto("/#/checkout")
    page.get_by_label("Address", exact=True).fill("1 Axe Avenue")
    page.get_by_label("City").fill("Checkton")
    page.get_by_label("Postal code").fill("30303")
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"#/orders/\w+"))
    expect(page.get_by_test_id("order-status").locator("[data-status]")).to_have_attribute(
        "data-status", re.compile("PAID|PACKED"), timeout=SAGA_MS)
    return page.url.rsplit("/", 1)[1]


def test_every_shopper_screen(page, devstack, admin_token):
    category = unique("axe")
    product = create_product(devstack, admin_token, name="Accessible Teapot", category=category,
                             description="Checked with axe-core.")
    check_screens(page, [("catalog", "/#/"), ("login", "/#/login"), ("signup", "/#/signup"),
                         ("empty cart", "/#/cart"), ("not found", "/#/no-such-page")])
    sign_up(page)
    add_to_cart(page, product["product_id"], 2)
    check_screens(page, [("catalog in a category", f"/#/?category={category}"),
                         ("search", f"/#/?q=teapot&category={category}&sort=price_asc"),
                         ("product", f"/#/products/{product['product_id']}"), ("cart", "/#/cart"),
                         ("checkout", "/#/checkout")])
    order_id = place_order(page)
    page.get_by_role("button", name="Cancel and refund").click()  # the confirmation, open
    assert_accessible(page, "order with the cancel confirmation")
    check_screens(page, [("order", f"/#/orders/{order_id}"), ("orders", "/#/orders"),
                         ("notifications", "/#/notifications"), ("account", "/#/account")])

    # The header: 44 px tap targets at 390 px, and the current page marked.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/#/orders")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders")).to_have_attribute(
        "aria-current", "page")
    heights = page.locator("#nav a, #nav button").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44, heights


def test_every_admin_screen(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Back Office Axe Product")
    log_in(page, *ADMIN)
    check_screens(page, [("admin products", "/#/admin"), ("new product", "/#/admin/products/new"),
                         ("edit product", f"/#/admin/products/{product['product_id']}"),
                         ("import", "/#/admin/imports"), ("orders to ship", "/#/admin/orders"),
                         ("all orders", "/#/admin/orders?status="), ("account", "/#/account")])
    sku = page.locator("#p-sku")
    page.goto(f"/#/admin/products/{product['product_id']}")
    expect(sku).to_have_attribute("readonly", "")
    assert sku.evaluate("e => getComputedStyle(e).borderStyle") == "dashed"  # looks read-only too


def test_placeholders_have_distinct_initials_and_no_developer_text_is_shown(page, devstack, admin_token):
    category = unique("tees")
    medium = create_product(devstack, admin_token, name="Storefront T-shirt (M)", category=category)
    large = create_product(devstack, admin_token, name="Storefront T-shirt (L)", category=category)
    page.goto(f"/#/?category={category}")
    initials = {p["name"]: page.locator(f".card[data-sku='{p['sku']}'] .placeholder").inner_text()
                for p in (medium, large)}
    assert len(set(initials.values())) == 2, initials
    seeded = requests.get(devstack.url("/products?limit=100"), timeout=10).json()["items"]
    assert not [p for p in seeded if re.search(r"shows an|out-of-stock product|for developers", p["description"])]
