"""The product fields a change may set (PATCH /products/{id}), free of their storage: the API's
schemas are built from them at import (chalicelib/lazy.py)."""

from __future__ import annotations

CHANGEABLE_FIELDS = ("name", "description", "price_cents", "currency", "category", "stock")
