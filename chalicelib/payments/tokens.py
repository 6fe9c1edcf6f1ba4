"""The payment tokens the provider simulator knows (provider.py), free of its storage: the API's
schema of POST /orders names them (chalicelib/lazy.py)."""

from __future__ import annotations

KNOWN_TOKENS = ("tok_visa", "tok_mastercard", "tok_declined", "tok_unavailable")
SUCCEEDING_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
UNAVAILABLE_TOKEN = "tok_unavailable"
