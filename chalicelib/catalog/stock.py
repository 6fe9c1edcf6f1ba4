"""Catalog stock: reserving and releasing units inside a caller's transaction, and the shards.

A hot product's stock is sharded over N items (models.py; set by the operator command
ops/stock_shards.py): the stock shown is their sum. Shard 0 is the STOCK item and holds N, so
reads stay one BatchGetItem for N=1; only products whose shard 0 says N>1 cost a second
BatchGetItem of their other shards. An order takes its units from one shard with enough (at
random, to spread the writes), or splits them over several; a release adds to shard 0; a stock
set distributes the total over the N shards.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from pynamodb.expressions.condition import Condition

from chalicelib.catalog.batch import read_items
from chalicelib.catalog.models import ACTIVE, Stock, product_pk, stock_item, stock_key
from chalicelib.clock import now_iso
from chalicelib.dynamo import Transaction


def stock_reserve(tx: Transaction, product_id: str, quantity: int, shards: Sequence[int] = (),
                  tag: str | None = None) -> int:
    """Take `quantity` units of an active product's stock inside the caller's transaction.

    Writes stock items only: each has the condition ACTIVE and stock >= what it gives, which cancels
    the whole transaction otherwise (that item's condition fails), so stock never goes
    negative. `shards` is the product's stock by shard as read (get_products_and_shards); with one
    shard (or none given) it is the STOCK item. With more: one shard that has enough, chosen at
    random, or if none has, the fewest shards that together have enough (largest first), one update
    each, all tagged `tag` (TransactionFailed.failed names it when one of them refused). Returns how
    many updates it added.
    """
    _check_quantity(quantity)
    takes = _takes(shards, quantity) if len(shards) > 1 else [(0, quantity)]
    for shard, units in takes:
        tx.update(shard_item(product_id, shard), condition=(Stock.status == ACTIVE) & (Stock.stock >= units),
                  actions=[Stock.stock.add(-units), Stock.updated_at.set(now_iso())], tag=tag)
    return len(takes)


def _takes(shards: Sequence[int], quantity: int) -> list[tuple[int, int]]:
    """(shard, units) pairs that take `quantity` from stock `shards` (see stock_reserve). If the
    shards do not hold `quantity` together, one shard's condition is left to refuse it."""
    enough = [shard for shard, units in enumerate(shards) if units >= quantity]
    if enough:
        return [(random.choice(enough), quantity)]
    takes, left = [], quantity
    for shard in sorted(range(len(shards)), key=lambda shard: -shards[shard]):
        if left <= 0 or shards[shard] <= 0:
            break
        takes.append((shard, min(left, shards[shard])))
        left -= takes[-1][1]
    return takes if left <= 0 else [(0, quantity)]


def distribute_stock(total: int, shards: int) -> list[int]:
    """`total` units over `shards` shards: total // shards each, one more for the first total % shards."""
    return [total // shards + (1 if shard < total % shards else 0) for shard in range(shards)]


def stock_release(tx: Transaction, product_id: str, quantity: int) -> None:
    """Add `quantity` units back to a product's stock inside the caller's transaction.

    Works on deleted products too (their STOCK item remains); the transaction fails if the STOCK
    item does not exist, rather than creating a stray one. A sharded product gets them on shard 0:
    the cancel paths do not read the product, and shard 0 always exists.
    """
    _check_quantity(quantity)
    tx.update(shard_item(product_id), condition=Stock.pk.exists(),
              actions=[Stock.stock.add(quantity), Stock.updated_at.set(now_iso())])


def with_other_shards(firsts: Mapping[str, Stock | None], consistent: bool) -> dict[str, list[Stock]]:
    """Each product's stock shards by product pk, shard 0 first, given its shard 0 (None: a product
    of the layout before the STOCK item, no shards). No call unless a shard 0 says N>1; then one
    BatchGetItem per 100 other shards (an eventually consistent read that missed some reads those
    again, consistently). A shard still missing (a re-shard that removed it since shard 0 was read)
    counts as none."""
    wanted = [stock_key(pk, shard) for pk, first in firsts.items() if first is not None
              for shard in range(1, first.shard_count)]
    found = read_items(wanted, consistent)
    if not consistent:
        found |= read_items([key for key in wanted if key not in found], consistent=True)
    return {pk: [] if first is None else [first, *(found[stock_key(pk, shard)] for shard in range(1, first.shard_count)
                                                  if stock_key(pk, shard) in found)]
            for pk, first in firsts.items()}


def shard_item(product_id: str, shard: int = 0) -> Stock:
    """Stock shard `shard` of `product_id` (just its key)."""
    return stock_item(product_pk(product_id), shard)


def shard_count(shards: Sequence[Stock]) -> int:
    return shards[0].shard_count if shards else 1


def same_shard_count(count: int) -> Condition:
    """The condition on shard 0 that the product still has `count` shards (a re-shard changes it)."""
    return Stock.shards.does_not_exist() if count == 1 else Stock.shards == count


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a positive integer, not {quantity!r}")
