"""Browser tests: Debian's Chromium driven by Playwright against the shared dev stack's web app.

Playwright is the PyPI package, launched with `executable_path` at the system Chromium, so it never
downloads a browser. Screenshots for the README are written only when STOREFRONT_SCREENSHOTS=1
(`make screenshots`), so an ordinary test run leaves docs/ alone.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

CHROMIUM = os.environ.get("STOREFRONT_CHROMIUM", "/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the rest keep it off this machine's closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "mobile": (390, 844)}
ADMIN = ("admin@example.com", "Admin-Passw0rd!")
PASSWORD = "Shopper-Passw0rd!"
WAIT_MS = 15_000  # any one thing the UI shows, saga steps included


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, devstack) -> Iterator[Any]:
    """A fresh tab (its own browser context and localStorage) on the web app; fails the test on any uncaught
    page error."""
    context = browser.new_context(base_url=devstack.web_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshot(page, name: str) -> None:
    """docs/screenshots/<name>-desktop.png and -mobile.png, when STOREFRONT_SCREENSHOTS=1."""
    if os.environ.get("STOREFRONT_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True, animations="disabled")
    page.set_viewport_size(original)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def api_token(devstack, email: str, password: str) -> str:
    response = requests.post(devstack.url("/auth/login"), json={"email": email, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["id_token"]


@pytest.fixture(scope="session")
def admin_token(devstack) -> str:
    return api_token(devstack, *ADMIN)


def create_product(devstack, admin_token: str, **fields: Any) -> dict[str, Any]:
    body = {"sku": unique("WEB").upper(), "name": "Browser test product", "price_cents": 1500, "stock": 20,
            "category": "browser-tests", **fields}
    response = requests.post(devstack.url("/products"), json=body, timeout=10,
                             headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 201, response.text
    return response.json()


def require_route(devstack, admin_token: str, method: str, path: str, body: dict[str, Any]) -> None:
    """Skip when the API has no such route yet: API Gateway's own 403/404, not an app error."""
    response = requests.request(method, devstack.url(path), json=body, timeout=10,
                                headers={"Authorization": f"Bearer {admin_token}"})
    if response.status_code in (403, 404) and "Code" not in response.json():
        pytest.skip(f"{method} {path} is not in the API yet (issue 5: imports and product images); "
                    f"API Gateway answered {response.status_code}")


def sign_up(page, name: str = "Web Shopper") -> str:
    """Create an account through the sign-up form; returns the email (logged in afterwards)."""
    email = f"{unique('shopper')}@example.com"
    page.goto("/#/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("button", name=f"Log out ({name})").wait_for()
    return email


def log_in(page, email: str, password: str) -> None:
    page.goto("/#/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def add_to_cart(page, product_id: str, quantity: int = 1) -> None:
    page.goto(f"/#/products/{product_id}")
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_text("Added").wait_for()
