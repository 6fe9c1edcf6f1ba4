"""Product images: presigned uploads under images/<product_id>/, validated and thumbnailed, then set on the product."""
