"""What a shopper relies on beyond the happy path: the skip link, timeouts with Retry, a declined card
that keeps the cart, stock limits named by product, focus after errors, tabs sharing the login and cart,
the account's saved address, notifications in the reader's terms, search, sort and the breadcrumb."""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import (
    PASSWORD,
    WAIT_MS,
    add_to_cart,
    api_token,
    create_product,
    screenshot,
    sign_up,
    unique,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SAGA_MS = 30_000


def order_status(page):
    return page.get_by_test_id("order-status").locator("[data-status]")


def fill_address(page) -> None:
    page.get_by_label("Address", exact=True).fill("7 Care Road")
    page.get_by_label("City").fill("Carington")
    page.get_by_label("Postal code").fill("20202")


def short_timeouts(page, ms: int = 1500) -> None:
    """config.js as the dev stack serves it, with API calls given up after `ms`."""
    def patch(route) -> None:
        config = json.loads(re.search(r"=\s*(\{.*\})", route.fetch().text(), re.S).group(1))
        route.fulfill(content_type="text/javascript",
                      body=f"window.STOREFRONT_CONFIG = {json.dumps({**config, 'requestTimeoutMs': ms})};")

    page.route("**/config.js", patch)


def test_the_skip_link_moves_focus_to_the_content_and_is_not_a_route(page):
    page.goto("/#/cart")
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    skip = page.get_by_role("link", name="Skip to content")
    assert page.evaluate("[...document.querySelectorAll('a, button, input, select')][0].className") == "skip-link"
    skip.focus()
    expect(skip).to_be_visible()  # shown while focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_role("heading", name="Page not found")).to_have_count(0)
    assert page.url.endswith("#/cart")
    expect(page).to_have_title("Your cart · Storefront")


def test_a_stalled_api_ends_in_a_retry_and_a_down_api_too(page, devstack):
    short_timeouts(page)
    stalled = []
    page.route("**/api/products?*", lambda route: stalled.append(route))  # never answered
    page.goto("/#/")
    expect(page.get_by_role("heading", name="This page could not load")).to_be_visible()
    expect(page.locator(".error[role=alert]")).to_contain_text("did not answer in time")
    page.unroute("**/api/products?*")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", name="Shop")).to_be_visible()
    expect(page.get_by_role("list", name="Products")).to_be_visible()

    page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    page.goto("/#/cart")
    page.goto("/#/orders")  # the guard sends a logged-out person to log in: a page with no API call
    page.goto("/#/products/anything")
    expect(page.get_by_role("heading", name="This page could not load")).to_be_visible()
    expect(page.locator(".error[role=alert]")).to_contain_text("Could not reach")
    page.unroute("**/api/**")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()  # the API answers: 404


def test_a_declined_card_keeps_the_cart_says_not_charged_and_offers_another_card(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Second Chance Lamp", price_cents=1250)
    sign_up(page)
    add_to_cart(page, product["product_id"], 2)
    page.goto("/#/checkout")
    fill_address(page)
    page.get_by_label("Test card that is declined").check()
    page.get_by_role("button", name="Place order").click()
    expect(order_status(page)).to_have_attribute("data-status", "CANCELLED", timeout=SAGA_MS)
    notice = page.get_by_test_id("declined")
    expect(notice).to_contain_text("You have not been charged")
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart (2)")  # kept
    notice.get_by_role("link", name="Pay with another card").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_text("you were not charged")).to_be_visible()
    expect(page.get_by_label("Address", exact=True)).to_have_value("7 Care Road")  # remembered on the account
    expect(page.get_by_label("Mastercard test card (approved)")).to_be_checked()
    page.get_by_role("button", name="Place order").click()
    expect(order_status(page)).to_have_attribute("data-status", re.compile("PAID|PACKED"), timeout=SAGA_MS)
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart")  # paid: now the cart is done


def test_the_cart_is_capped_by_stock_and_names_products_not_skus(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Scarce Kettle", stock=7)
    sign_up(page)
    page.goto(f"/#/products/{product['product_id']}")
    page.get_by_label("Quantity").fill("60")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status").filter(has_text="at most 7")).to_contain_text("Scarce Kettle")
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart")
    add_to_cart(page, product["product_id"], 3)

    page.goto("/#/cart")
    quantity = page.get_by_label("Quantity")
    quantity.fill("60")
    quantity.press("Tab")
    expect(quantity).to_have_value("7")
    expect(page.get_by_role("status").filter(has_text="Only 7")).to_contain_text("Scarce Kettle")
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart (7)")
    quantity.fill("5")
    quantity.press("Enter")  # a change: the page is updated in place, the focus stays on the field
    expect(quantity).to_be_focused()
    expect(page.get_by_test_id("cart-total")).to_have_text("Total: $75.00")

    # Stock sold elsewhere meanwhile: the API's refusal names the product, and the focus goes to it.
    requests.patch(devstack.url(f"/products/{product['product_id']}"), json={"stock": 2}, timeout=10,
                   headers={"Authorization": f"Bearer {admin_token}"}).raise_for_status()
    page.goto("/#/checkout")
    fill_address(page)
    page.get_by_role("button", name="Place order").click()
    alert = page.locator(".checkout .error[role=alert]")
    expect(alert).to_contain_text("Scarce Kettle")
    expect(alert).not_to_contain_text(product["sku"])
    expect(alert).to_be_focused()


def test_a_failed_login_focuses_the_error_and_marks_the_fields(page):
    page.goto("/#/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("Wrong-passw0rd!")
    page.get_by_role("button", name="Log in").click()
    alert = page.locator(".error[role=alert]")
    expect(alert).to_be_focused()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Password").fill("x")
    expect(page.get_by_label("Password")).not_to_have_attribute("aria-invalid", "true")


def test_a_weak_password_is_explained_once_in_words(page):
    page.goto("/#/signup")
    page.get_by_label("Name").fill("Weak Password")
    page.get_by_label("Email").fill(f"{unique('weak')}@example.com")
    page.get_by_label("Password").fill("alllowercase")
    page.get_by_role("button", name="Create account").click()
    alert = page.locator(".error[role=alert]")
    expect(alert).to_be_focused()
    text = alert.inner_text()
    assert "password:" not in text, text  # no raw field names
    assert text.count("digit") == 1 and text.count("symbol") == 1, text  # each need said once
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")


def test_tabs_share_the_login_and_the_cart(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Two Tab Teapot")
    other = page.context.new_page()
    other.goto("/#/cart")
    expect(other.get_by_role("link", name="Log in")).to_be_visible()
    sign_up(page, name="Tab Person")
    expect(other.get_by_role("button", name="Log out (Tab Person)")).to_be_visible()  # the storage event
    add_to_cart(page, product["product_id"], 2)
    expect(other.get_by_test_id("cart-link")).to_have_text("Cart (2)")
    expect(other.get_by_role("link", name="Two Tab Teapot")).to_be_visible()  # the open cart page follows
    fresh = page.context.new_page()  # a tab opened later starts logged in
    fresh.goto("/#/orders")
    expect(fresh.get_by_role("heading", name="Your orders")).to_be_visible()
    other.get_by_role("button", name="Log out (Tab Person)").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_the_account_page_saves_the_address_that_prefills_checkout(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Addressed Parcel")
    email = sign_up(page, name="Address Keeper")
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("link", name="Account")).to_have_attribute("aria-current", "page")
    page.get_by_label("Address", exact=True).fill("9 Saved Street")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Postal code").fill("10115")
    country = page.get_by_label("Country")
    assert country.evaluate("e => e.tagName") == "SELECT"
    assert country.locator("option[value=ZZ]").count() == 0
    country.select_option("DE")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    screenshot(page, "account")
    token = api_token(devstack, email, PASSWORD)
    me = requests.get(devstack.url("/users/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert me["shipping_address"]["city"] == "Berlin" and me["shipping_address"]["country"] == "DE"
    add_to_cart(page, product["product_id"])
    page.goto("/#/checkout")
    expect(page.get_by_label("Address", exact=True)).to_have_value("9 Saved Street")
    expect(page.get_by_label("Country")).to_have_value("DE")


def test_notifications_show_short_ids_links_and_local_money(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Notified Mug", price_cents=9650)
    sign_up(page)
    add_to_cart(page, product["product_id"])
    page.goto("/#/checkout")
    fill_address(page)
    page.get_by_role("button", name="Place order").click()
    expect(order_status(page)).to_have_attribute("data-status", re.compile("PAID|PACKED"), timeout=SAGA_MS)
    order_id = page.url.rsplit("/", 1)[1]
    page.goto("/#/notifications")
    confirmed = page.locator(".notification").filter(has_text="confirmed").first
    expect(confirmed).to_be_visible(timeout=SAGA_MS)
    expect(confirmed).to_contain_text("$96.50")
    expect(page.locator("main")).not_to_contain_text("96.50 USD")
    expect(page.locator("main")).not_to_contain_text(order_id)  # never the 32-character id
    expect(confirmed).to_contain_text(order_id[:8])
    confirmed.get_by_role("link", name=f"View order {order_id[:8]}").click()
    expect(page.get_by_role("heading", name=f"Order {order_id[:8]}")).to_be_visible()


def test_cancelling_a_paid_order_asks_first(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Second Thoughts Clock", price_cents=2000)
    sign_up(page)
    add_to_cart(page, product["product_id"])
    page.goto("/#/checkout")
    fill_address(page)
    page.get_by_role("button", name="Place order").click()
    expect(order_status(page)).to_have_attribute("data-status", re.compile("PAID|PACKED"), timeout=SAGA_MS)
    page.get_by_role("button", name="Cancel and refund").click()
    question = page.get_by_text("Cancel this order and refund $20.00")
    expect(question).to_be_focused()
    page.get_by_role("button", name="Keep the order").click()
    expect(page.get_by_role("button", name="Cancel and refund")).to_be_focused()
    expect(order_status(page)).to_have_attribute("data-status", re.compile("PAID|PACKED"))
    page.get_by_role("button", name="Cancel and refund").click()
    page.get_by_role("button", name="Yes, cancel and refund").click()
    expect(order_status(page)).to_have_attribute("data-status", "CANCELLED")
    expect(page.get_by_text("Payment refunded: $20.00")).to_be_visible(timeout=SAGA_MS)


def test_search_sort_thumbnails_and_the_breadcrumb(page, devstack, admin_token):
    category = unique("search")
    word = unique("zq").replace("-", "")
    create_product(devstack, admin_token, name=f"Gooseneck {word} Kettle", price_cents=5900, category=category)
    create_product(devstack, admin_token, name=f"Café {word} Cup", price_cents=900, category=category)
    create_product(devstack, admin_token, name=f"Plain {word} Plate", price_cents=2500, category=category)
    page.goto("/#/")
    page.get_by_role("searchbox", name="Search").fill(f"{word[:6]} cafe")
    page.get_by_role("button", name="Search").click()
    cards = page.get_by_role("list", name="Products").get_by_role("listitem")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Café")

    page.get_by_role("searchbox", name="Search").fill(word)
    page.get_by_label("Sort by").select_option("price_asc")
    page.get_by_role("button", name="Search").click()
    expect(cards).to_have_count(3)
    names = [name.split(" ")[0] for name in cards.locator(".card-name").all_inner_texts()]
    assert names == ["Café", "Plain", "Gooseneck"], names
    page.get_by_label("Sort by").select_option("price_desc")
    page.get_by_role("button", name="Search").click()
    expect(cards.first).to_contain_text("Gooseneck")
    expect(page.get_by_label("Category").locator(f"option[value='{category}']")).to_have_count(1)
    screenshot(page, "search")

    cards.first.get_by_role("link").click()
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("link", name="Shop")).to_be_visible()
    crumbs.get_by_role("link", name=category).click()
    expect(page.get_by_role("heading", name=f"Shop: {category}")).to_be_visible()
    expect(cards).to_have_count(3, timeout=WAIT_MS)


def test_money_uses_each_currencys_own_minor_digits(page, devstack, admin_token):
    category = unique("money")
    yen = create_product(devstack, admin_token, name="Yen Teacup", price_cents=1500, currency="JPY", category=category)
    dinar = create_product(devstack, admin_token, name="Dinar Lantern", price_cents=1250, currency="KWD",
                           category=category)
    page.goto(f"/#/?category={category}")
    expect(page.locator(f".card[data-sku='{yen['sku']}'] .price")).to_have_text("¥1,500")
    expect(page.locator(f".card[data-sku='{dinar['sku']}'] .price")).to_have_text(re.compile(r"KWD\s1\.250"))
