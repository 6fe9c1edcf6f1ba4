"""Catalog search, price order and categories: an index of catalog-table items kept by the catalog."""
