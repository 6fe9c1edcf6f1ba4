"""Move a deployed stage's stock out of its product items into STOCK items (docs/scaling.md).

    STOREFRONT_STAGE=<stage> AWS_REGION=<region> python -m ops.stock_migration

Run it once, right after deploying the code that has the STOCK item; a second run finds nothing to
move. Until a product is moved, reads show the stock on its product item, and writes to its stock
are refused rather than lost: an order of it is a 409 and a cancellation that returns units to it
is retried later (docs/scaling.md, "Moving a deployed stage").

It finds the product items that still hold `stock` with a Scan (this one-off command's, never a
request path's) and moves each in one transaction: put the STOCK item (stock, status and time
copied; condition: no STOCK item yet) and remove the product's `stock` (condition: stock and status
as read). If the product changed since it was read (an order served by the previous code in the
seconds of the deploy), it is read again and moved again. If its STOCK item exists already (a PATCH
or an import wrote it since the deploy: a later value), only the product's attribute is removed.
"""

from __future__ import annotations

import sys

from chalicelib.catalog.models import PRODUCT_SK, STOCK_SK, Product, Stock
from chalicelib.dynamo import TransactionFailed, transaction

MOVE_ATTEMPTS = 5


def move_stock_out() -> int:
    """Move every product item's `stock` into its STOCK item; returns how many products it found to move."""
    moved = 0
    for product in Product.scan((Product.sk == PRODUCT_SK) & Product.stock.exists(), consistent_read=True):
        move_one(product)
        moved += 1
    return moved


def move_one(product: Product) -> None:
    """Move `product`'s stock into its STOCK item (nothing happens if it was moved already)."""
    for _ in range(MOVE_ATTEMPTS):
        try:
            with transaction() as tx:
                tx.save(Stock(pk=product.pk, sk=STOCK_SK, stock=product.stock, status=product.status,
                              updated_at=product.updated_at), condition=Stock.pk.does_not_exist(), tag="stock")
                tx.update(product, actions=[Product.stock.remove()],
                          condition=(Product.stock == product.stock) & (Product.status == product.status))
            return
        except TransactionFailed as exc:
            if not exc.cancelled:
                raise
            if "stock" in exc.failed:  # the STOCK item exists, written since the deploy, so newer than
                # the product's attribute
                product.update(actions=[Product.stock.remove()])
                return
        product = Product.get(product.pk, PRODUCT_SK, consistent_read=True)
        if product.stock is None:
            return
    raise RuntimeError(f"{product.pk} kept changing: run the migration again")


def main() -> int:
    moved = move_stock_out()
    print(f"moved the stock of {moved} product(s) to their STOCK items ({Product.Meta.table_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
