"""A shopper in a real browser: browse, sign up, buy, watch the payment saga, keyboard-only checkout."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS, add_to_cart, create_product, screenshot, sign_up, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SAGA_MS = 30_000  # payment goes through the outbox, SNS, SQS and back: a few seconds locally


def order_status(page):
    return page.get_by_test_id("order-status").locator("[data-status]")


def test_shopper_signs_up_buys_two_products_and_sees_the_order_paid(page, devstack, admin_token):
    category = unique("browser")
    mug = create_product(devstack, admin_token, name="Enamel Mug", price_cents=1250, category=category,
                         description="Blue enamel, 300 ml.")
    lamp = create_product(devstack, admin_token, name="Desk Lamp", price_cents=3900, category=category)
    email = sign_up(page)
    assert email

    page.goto(f"/#/?category={category}")
    expect(page.get_by_role("heading", name=f"Shop: {category}")).to_be_visible()
    cards = page.get_by_role("list", name="Products").get_by_role("listitem")
    expect(cards).to_have_count(2)
    screenshot(page, "catalog")

    cards.filter(has_text="Enamel Mug").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Enamel Mug")).to_be_visible()
    expect(page.get_by_test_id("stock")).to_have_text("20 in stock")
    screenshot(page, "product")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status").filter(has_text="Added 2")).to_be_visible()
    add_to_cart(page, lamp["product_id"])
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart (3)")

    page.get_by_test_id("cart-link").click()
    page.get_by_role("link", name="Check out").click()
    expect(page.get_by_test_id("total")).to_have_text("$64.00")
    page.get_by_label("Address", exact=True).fill("1 Main Street")
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("Postal code").fill("12345")
    expect(page.get_by_label("Visa test card (approved)")).to_be_checked()
    screenshot(page, "checkout")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(re.compile(r"#/orders/\w+"))
    # Paid, and then packed by the fulfilment workflow's warehouse within a second or so.
    expect(order_status(page)).to_have_attribute("data-status", re.compile("PAID|PACKED"), timeout=SAGA_MS)
    expect(page.locator("[data-event-type=PaymentSucceeded]")).to_be_visible()
    expect(page.get_by_text("Payment succeeded: $64.00")).to_be_visible()
    screenshot(page, "order")

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator(".order-row").first.locator("[data-status]")).to_have_attribute(
        "data-status", re.compile("PAID|PACKED|SHIPPED|DELIVERED"))
    assert mug["product_id"]


def test_a_declined_card_shows_a_cancelled_order(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Declined Gadget")
    sign_up(page)
    add_to_cart(page, product["product_id"])
    page.goto("/#/checkout")
    page.get_by_label("Address", exact=True).fill("2 Side Street")
    page.get_by_label("City").fill("Shelbyville")
    page.get_by_label("Postal code").fill("54321")
    page.get_by_label("Test card that is declined").check()
    page.get_by_role("button", name="Place order").click()
    expect(order_status(page)).to_have_attribute("data-status", "CANCELLED", timeout=SAGA_MS)
    expect(page.locator("[data-event-type=PaymentFailed]")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Cancel"))).to_have_count(0)


def test_checkout_works_with_the_keyboard_alone(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Keyboard Widget")
    sign_up(page)
    add_to_cart(page, product["product_id"], 2)
    page.goto("/#/checkout")
    expect(page.get_by_role("heading", name="Checkout")).to_be_focused()

    focus_order = []
    for text in ("3 Key Lane", "", "Keyton", "10115", None):
        page.keyboard.press("Tab")
        focus_order.append(page.evaluate("document.activeElement.id"))
        if text:
            page.keyboard.type(text)
    page.keyboard.press("Tab")  # "Remember this address", checked for a first order
    focus_order.append(page.evaluate("document.activeElement.id"))
    page.keyboard.press("Tab")  # into the payment choices, at the checked one
    focus_order.append(page.evaluate("document.activeElement.id"))
    page.keyboard.press("ArrowDown")  # Visa -> Mastercard
    page.keyboard.press("Tab")
    focus_order.append(page.evaluate("document.activeElement.textContent"))
    assert focus_order == ["ship-line1", "ship-line2", "ship-city", "ship-postal_code", "ship-country",
                           "ship-remember", "pay-tok_visa", "Place order"]
    expect(page.get_by_label("Mastercard test card (approved)")).to_be_checked()
    page.keyboard.press("Enter")
    # Paid, and then packed by the fulfilment workflow's warehouse within a second or so.
    expect(order_status(page)).to_have_attribute("data-status", re.compile("PAID|PACKED"), timeout=SAGA_MS)
    expect(page.get_by_role("heading", name=re.compile("Order"))).to_be_visible(timeout=WAIT_MS)


def test_api_errors_are_shown_in_plain_words(page):
    page.goto("/#/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("Wrong-passw0rd!")
    page.get_by_role("button", name="Log in").click()
    alert = page.locator(".error[role=alert]")
    expect(alert).to_be_visible()
    expect(alert).not_to_be_empty()
    page.goto("/#/products/does-not-exist")
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    expect(page.locator(".error[role=alert]")).to_contain_text(re.compile(r"\w+"))
