"""Notifications: one stored notification and one email for each customer-facing order event."""
