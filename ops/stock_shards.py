"""Set how many stock shards a product has (docs/scaling.md, docs/operations.md): an operator's command.

    STOREFRONT_STAGE=<stage> AWS_REGION=<region> python -m ops.stock_shards --product <id> --shards N

It reads the product's shards (strongly consistent), then writes the new ones in ONE transaction:
the total is kept and distributed like a stock set (total // N each, one more for the first
total % N); each old shard is overwritten or deleted under the condition that its stock, its status
and (shard 0) the shard count are still the ones read; new shards beyond the old ones are put
without a condition (shard 0's count already excludes a concurrent re-shard, and so a stray item
beyond the count, left by an import racing an earlier re-shard, is overwritten). An order, a release, a PATCH or another
re-shard that lands between the read and the write cancels it: it is read and written again, up to
RESHARD_ATTEMPTS times. The shards keep the product's status and their latest `updated_at`, so the
product's API view does not change at all. Deleted products can be re-sharded too (their stock
still takes releases).
"""

from __future__ import annotations

import argparse
import sys

from chalicelib.catalog import products, stock
from chalicelib.catalog.models import MAX_STOCK_SHARDS, Stock, stock_item
from chalicelib.dynamo import TransactionFailed, condition_failed, transaction

RESHARD_ATTEMPTS = 5


def reshard(product_id: str, shards: int) -> list[int]:
    """Give `product_id`'s stock `shards` shards, keeping its total; returns the new stock by shard.

    ValueError if `shards` is out of 1..MAX_STOCK_SHARDS, LookupError if there is no such product or
    it has no STOCK item yet (run ops/stock_migration.py first), RuntimeError if it kept changing.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_STOCK_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_STOCK_SHARDS}, not {shards!r}")
    for _ in range(RESHARD_ATTEMPTS):
        _, old = products.read_products([product_id]).get(product_id, (None, []))
        if not old:
            raise LookupError(f"No product {product_id} with a STOCK item")
        if len(old) != old[0].shard_count:
            continue  # a shard 0 newer than the others it was read with: read again
        new = stock.distribute_stock(sum(int(shard.stock) for shard in old), shards)
        try:
            _write(old, new)
            return new
        except TransactionFailed as exc:
            if not (condition_failed(exc) or exc.conflict):
                raise
    raise RuntimeError(f"The stock of {product_id} kept changing: run the command again")


def _write(old: list[Stock], new: list[int]) -> None:
    first, updated_at = old[0], max(shard.updated_at for shard in old)
    with transaction() as tx:
        for shard in range(max(len(old), len(new))):
            unchanged = None
            if shard < len(old):
                unchanged = (Stock.stock == old[shard].stock) & (Stock.status == first.status)
                if shard == 0:
                    unchanged &= stock.same_shard_count(len(old))
            if shard < len(new):
                tx.save(stock_item(first.pk, shard, stock=new[shard], status=first.status, updated_at=updated_at,
                                   shards=len(new) if shard == 0 and len(new) > 1 else None),
                        condition=unchanged)
            else:
                tx.delete(stock_item(first.pk, shard), condition=unchanged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Set how many stock shards a product has, keeping its stock.")
    parser.add_argument("--product", required=True, help="the product id")
    parser.add_argument("--shards", required=True, type=int, help=f"1..{MAX_STOCK_SHARDS}")
    args = parser.parse_args(argv)
    new = reshard(args.product, args.shards)
    print(f"{args.product}: stock {sum(new)} in {len(new)} shard(s) {new} ({Stock.Meta.table_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
