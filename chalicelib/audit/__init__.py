"""Audit: an append-only log of every domain event, and each order's timeline."""
