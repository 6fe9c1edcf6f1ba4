"""Writing the search index: what a product's create, change and delete add to their own transaction,
and what an import's bulk upsert writes next to its products. See models.py for the items.

Only the fields the index is made of (name, SKU, category, price, created_at) matter: a change of
anything else (description, currency, picture, stock) writes no entry, so orders never touch it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from pynamodb.transactions import TransactWrite

from chalicelib.errors import InvalidInput
from chalicelib.search import terms
from chalicelib.search.models import CATEGORIES_PK, CategoryCount, SearchEntry, entry_pk


class Listing(msgspec.Struct, frozen=True):
    """What the index knows of an active product."""

    product_id: str
    name: str
    sku: str
    category: str
    price_cents: int
    created_at: str

    @classmethod
    def of(cls, product: Any) -> Listing:
        """The listing of a product item (anything with the product's attributes)."""
        return cls(product.product_id, product.name, product.sku, product.category, int(product.price_cents),
                   product.created_at)

    @property
    def terms(self) -> list[str]:
        return terms.terms_of(self.name, self.sku, self.category)

    @property
    def newest_key(self) -> str:
        return f"{self.created_at}#{self.product_id}"


def check(listing: Listing) -> None:
    """InvalidInput if the product has more index terms than one transaction can rewrite."""
    check_fields(listing.name, listing.sku, listing.category)


def check_fields(name: str, sku: str, category: str) -> None:
    """InvalidInput if a product of this name, SKU and category would have too many index terms."""
    if len(terms.terms_of(name, sku, category)) > terms.MAX_TERMS:
        raise InvalidInput(f"The name, SKU and category have too many different words to index for search "
                           f"(at most {terms.MAX_TERMS} different 1-3 letter word beginnings); shorten the name")


def entries(listing: Listing) -> list[SearchEntry]:
    """The search entries of an active product, one per term."""
    words = " ".join(terms.product_words(listing.name, listing.sku, listing.category))
    price = f"{listing.price_cents:012d}#{listing.newest_key}"
    return [SearchEntry(pk=entry_pk(term), sk=listing.newest_key, product_id=listing.product_id, words=words,
                        category=listing.category, gsi1pk=entry_pk(term), gsi1sk=price)
            for term in listing.terms]


def _keys(listing: Listing, of_terms: Iterable[str]) -> list[SearchEntry]:
    return [SearchEntry(pk=entry_pk(term), sk=listing.newest_key) for term in of_terms]


def _count(tx: TransactWrite, category: str, delta: int) -> None:
    tx.update(CategoryCount(pk=CATEGORIES_PK, sk=category), actions=[CategoryCount.products.add(delta)])


def add_created(tx: TransactWrite, listing: Listing) -> None:
    """Index a new active product in its creating transaction (InvalidInput: too many terms)."""
    check(listing)
    for entry in entries(listing):
        tx.save(entry)
    _count(tx, listing.category, 1)


def changes_index(old: Listing, new: Listing) -> bool:
    return (old.name, old.sku, old.category, old.price_cents) != (new.name, new.sku, new.category, new.price_cents)


def add_changed(tx: TransactWrite, old: Listing, new: Listing) -> None:
    """Re-index a changed product in its changing transaction: nothing unless the name, category or
    price changed; then the entries of terms that went are deleted and every entry is rewritten."""
    if not changes_index(old, new):
        return
    check(new)
    kept = set(new.terms)
    for key in _keys(old, [term for term in old.terms if term not in kept]):
        tx.delete(key)
    for entry in entries(new):
        tx.save(entry)
    if old.category != new.category:
        _count(tx, old.category, -1)
        _count(tx, new.category, 1)


def add_deleted(tx: TransactWrite, old: Listing) -> None:
    """Un-index a product in its deleting transaction."""
    for key in _keys(old, old.terms):
        tx.delete(key)
    _count(tx, old.category, -1)


class BulkChanges(msgspec.Struct):
    """What an import's upsert writes to the index: entries to put and to delete, and category counts."""

    puts: list[SearchEntry]
    deletes: list[SearchEntry]
    counts: Counter[str]


def bulk_changes(changes: Sequence[tuple[Listing | None, Listing]]) -> BulkChanges:
    """The index writes for (before, after) pairs of upserted products; `before` None: created.
    Products with too many terms raise InvalidInput before anything is written."""
    result = BulkChanges([], [], Counter())
    for old, new in changes:
        if old is not None and not changes_index(old, new):
            continue
        check(new)
        result.puts += entries(new)
        if old is None:
            result.counts[new.category] += 1
            continue
        kept = set(new.terms)
        result.deletes += _keys(old, [term for term in old.terms if term not in kept])
        if old.category != new.category:
            result.counts[old.category] -= 1
            result.counts[new.category] += 1
    return result


def apply_counts(counts: Counter[str]) -> None:
    """Adjust category counts after a bulk write: one UpdateItem per category whose count changed."""
    for category, delta in sorted(counts.items()):
        if delta:
            CategoryCount(pk=CATEGORIES_PK, sk=category).update(actions=[CategoryCount.products.add(delta)])
