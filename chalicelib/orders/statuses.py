"""An order's statuses and its fulfilment steps' states: the vocabulary of the orders service, free of
its storage (the API's schemas name them; chalicelib/lazy.py)."""

from __future__ import annotations

PENDING_PAYMENT, PAID, PACKED, SHIPPED, DELIVERED, CANCELLED = (
    "PENDING_PAYMENT", "PAID", "PACKED", "SHIPPED", "DELIVERED", "CANCELLED")
STATUSES = (PENDING_PAYMENT, PAID, PACKED, SHIPPED, DELIVERED, CANCELLED)
STEPS = ("pack", "ship", "deliver")  # the fulfilment workflow's steps, in order
WAITING, DONE, OVERDUE, STEP_CANCELLED = "WAITING", "DONE", "OVERDUE", "CANCELLED"
