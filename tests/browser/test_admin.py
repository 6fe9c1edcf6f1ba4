"""An admin in a real browser: catalog import with counts and row errors, a product picture upload."""

from __future__ import annotations

import re
import struct
import zlib

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN, create_product, log_in, require_route, screenshot, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
PROCESSING_MS = 30_000


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (31, 95, 191)) -> bytes:
    """A real PNG, made by hand (no imaging library needed in the tests)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_admin_pages_are_reachable_for_an_admin_only(page, devstack):
    page.goto("/#/admin")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # not logged in: sent to log in
    log_in(page, *ADMIN)
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Admin: products")).to_be_visible()
    for link, heading in (("New product", "New product"), ("Orders", "Admin: orders"),
                          ("Import catalog", "Import a catalog")):
        page.get_by_role("navigation", name="Admin").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    screenshot(page, "admin-import")


def test_admin_imports_a_csv_and_sees_the_counts(page, devstack, admin_token):
    require_route(devstack, admin_token, "POST", "/imports", {"filename": "probe.csv"})
    sku = unique("IMP").upper()
    csv = ("sku,name,description,price_cents,currency,category,stock\n"
           f"{sku}-1,Imported Teapot,Cast iron,2500,USD,kitchen,5\n"
           f"{sku}-2,Imported Cup,,900,USD,kitchen,12\n"
           f"{sku}-3,Broken Row,,not-a-price,USD,kitchen,1\n")
    log_in(page, *ADMIN)
    page.goto("/#/admin/imports")
    page.get_by_label("Catalog file (.csv or .jsonl)").set_input_files(
        {"name": "catalog.csv", "mimeType": "text/csv", "buffer": csv.encode()})
    page.get_by_role("button", name="Upload and import").click()
    report = page.get_by_test_id("import-report")
    expect(report).to_have_attribute("data-status", "COMPLETED", timeout=PROCESSING_MS)
    expect(page.get_by_test_id("rows-total")).to_have_text("3")
    expect(page.get_by_test_id("rows-imported")).to_have_text("2")
    expect(page.get_by_test_id("rows-failed")).to_have_text("1")
    expect(report.get_by_role("row").filter(has_text="4")).to_have_count(1)  # the header is row 1
    screenshot(page, "admin-import-report")


def test_an_uploaded_picture_shows_on_the_product(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Pictured Vase")
    require_route(devstack, admin_token, "POST", f"/products/{product['product_id']}/image", {})
    log_in(page, *ADMIN)
    page.goto(f"/#/admin/products/{product['product_id']}")
    page.get_by_label("Picture file").set_input_files(
        {"name": "vase.png", "mimeType": "image/png", "buffer": png()})
    page.get_by_role("button", name="Upload picture").click()
    expect(page.locator(".admin-picture img")).to_have_attribute("src", re.compile(r".+"), timeout=PROCESSING_MS)
    image_url = requests.get(devstack.url(f"/products/{product['product_id']}"), timeout=10).json()["image_url"]
    assert image_url
    page.goto(f"/#/products/{product['product_id']}")
    expect(page.get_by_role("img", name="Pictured Vase")).to_have_attribute("src", image_url)
    screenshot(page, "product-with-picture")
    thumbnail_url = requests.get(devstack.url(f"/products/{product['product_id']}"), timeout=10).json()["thumbnail_url"]
    page.goto(f"/#/?category={product['category']}")  # the grid shows the thumbnail, not the full picture
    expect(page.locator(f".card[data-sku='{product['sku']}'] img")).to_have_attribute("src", thumbnail_url)


def test_a_rejected_picture_is_explained(page, devstack, admin_token):
    product = create_product(devstack, admin_token, name="Unpictured Vase")
    log_in(page, *ADMIN)
    page.goto(f"/#/admin/products/{product['product_id']}")
    page.get_by_label("Picture file").set_input_files(
        {"name": "vase.png", "mimeType": "image/png", "buffer": b"this is plain text, not a picture"})
    page.get_by_role("button", name="Upload picture").click()
    status = page.get_by_test_id("image-status")
    expect(status).to_have_attribute("data-status", "REJECTED", timeout=PROCESSING_MS)
    expect(status).to_contain_text("The picture was rejected: ")
    expect(status).to_contain_text(re.compile(r"JPEG|PNG|WebP"))
    expect(status).to_be_focused()
    expect(page.locator(".admin-picture img")).to_have_count(0)  # never attached
    page.reload()  # the outcome is the API's, not the page's memory
    expect(page.get_by_test_id("image-status")).to_have_attribute("data-status", "REJECTED")
