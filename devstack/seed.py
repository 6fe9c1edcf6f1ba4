"""Seed data for the local stage (README): the admin user and a small sample catalog.

It goes through the services' own functions, so seeded data is exactly what the API would create.
Running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.accounts import cognito, service
from chalicelib.errors import Conflict

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-Passw0rd!"


def seed_admin() -> None:
    """The local stage confirms sign-ups at once (STOREFRONT_AUTO_CONFIRM_SIGNUPS), so login works."""
    try:
        service.sign_up(ADMIN_EMAIL, ADMIN_PASSWORD, "Admin")
    except Conflict:
        pass  # already there
    cognito.add_to_group(ADMIN_EMAIL, "admin")


def seed_all(log: Callable[[str], None] = print) -> None:
    seed_admin()
    log(f"seeded admin user {ADMIN_EMAIL}")
    try:
        from devstack.seed_catalog import seed_catalog
    except ImportError:  # the catalog service is not there yet
        return
    log(f"seeded {seed_catalog()} sample products")
