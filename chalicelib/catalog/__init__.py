"""The catalog service: products, SKUs, stock and the product lists."""
