"""The local stage's sample catalog: a few products in three categories, made through the service."""

from __future__ import annotations

from typing import Any

from chalicelib.catalog import service
from chalicelib.errors import Conflict

SAMPLE_PRODUCTS: tuple[dict[str, Any], ...] = (
    {"sku": "BOOK-001", "name": "The Pragmatic Programmer", "category": "books", "price_cents": 3999, "stock": 25,
     "description": "From journeyman to master."},
    {"sku": "BOOK-002", "name": "Designing Data-Intensive Applications", "category": "books", "price_cents": 4599,
     "stock": 15, "description": "The big ideas behind reliable, scalable systems."},
    {"sku": "BOOK-003", "name": "Architecture Patterns with Python", "category": "books", "price_cents": 3499,
     "stock": 10},
    {"sku": "MUG-001", "name": "Storefront Mug", "category": "kitchen", "price_cents": 1250, "stock": 100,
     "description": "Ceramic, 350 ml, dishwasher safe."},
    {"sku": "KETTLE-001", "name": "Gooseneck Kettle", "category": "kitchen", "price_cents": 5900, "stock": 8},
    {"sku": "TEE-001-M", "name": "Storefront T-shirt (M)", "category": "apparel", "price_cents": 2000, "stock": 40,
     "description": "Organic cotton."},
    {"sku": "TEE-001-L", "name": "Storefront T-shirt (L)", "category": "apparel", "price_cents": 2000, "stock": 35,
     "description": "Organic cotton."},
    {"sku": "HOODIE-001", "name": "Storefront Hoodie", "category": "apparel", "price_cents": 4900, "stock": 0,
     "description": "Heavyweight organic cotton fleece with a front pocket."},
)


def seed_catalog() -> list[str]:
    """Create the sample products whose SKU is not taken yet; returns the SKUs created (idempotent)."""
    created = []
    for fields in SAMPLE_PRODUCTS:
        if service.product_id_for_sku(fields["sku"]) is not None:
            continue
        try:
            service.create_product(fields)
        except Conflict:  # created meanwhile by another seeding run
            continue
        created.append(fields["sku"])
    return created
