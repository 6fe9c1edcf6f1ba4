"""Payments: charges an order when it is placed, voids or refunds it when the order is cancelled."""
