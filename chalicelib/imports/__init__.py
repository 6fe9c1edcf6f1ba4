"""Catalog imports: CSV or JSON Lines files dropped in the uploads bucket upsert products by sku."""
