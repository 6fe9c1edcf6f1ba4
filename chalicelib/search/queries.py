"""Reading the search index: which products a search's page holds, in its order, and the categories.

Every read is a Query. A search reads the partition of its rarest word (terms.query_term) and keeps
the entries whose words match every query word (and the category); price order without `q` reads the
`*` or `c:<category>` partition. The catalog then reads the page's products (catalog/service.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from pynamodb.exceptions import QueryError

from chalicelib import pagination
from chalicelib.errors import InvalidInput
from chalicelib.search import terms
from chalicelib.search.models import CATEGORIES_PK, CategoryCount, SearchEntry, entry_pk

FILTERING_QUERY_PAGE = 100  # entries per Query call while filtering (at least the page and one more)
MAX_EXAMINED = 2000  # entries one request filters at most: the page may then end short, with a cursor


class Search(msgspec.Struct, frozen=True):
    """A validated search: the folded words of `q` (none: no q), the category, the sort."""

    words: tuple[str, ...]
    category: str | None
    sort: str

    @property
    def uses_index(self) -> bool:
        """False for newest-first without q: the product lists serve that (catalog/service.py)."""
        return bool(self.words) or self.sort != "newest"

    @property
    def scope(self) -> str:
        """A cursor continues exactly this search (the words as a digest: cursors stay short)."""
        digest = hashlib.sha256(" ".join(self.words).encode()).hexdigest()[:16] if self.words else ""
        return f"products:q={digest}:category={self.category or ''}:sort={self.sort}"

    @property
    def term(self) -> str:
        if self.words:
            return terms.query_term(self.words)
        return terms.category_term(self.category) if self.category else terms.ALL_TERM

    @property
    def filters(self) -> bool:
        """Whether some entries of the partition read may not match (else each Query reads just a page)."""
        exact = len(self.words) == 1 and len(self.words[0]) <= terms.PREFIX_LENGTHS
        return bool(self.words) and not (exact and self.category is None)

    def wants(self, entry: SearchEntry) -> bool:
        if self.category is not None and entry.category != self.category:
            return False
        return terms.matches(self.words, entry.words.split())


def parse(q: str | None, category: str | None, sort: str | None) -> Search:
    """The search of GET /products' query parameters; InvalidInput for a q without a letter or digit."""
    if q is not None and not 1 <= len(q) <= terms.MAX_QUERY_LENGTH:
        raise InvalidInput(f"q must be 1..{terms.MAX_QUERY_LENGTH} characters")
    words = tuple(terms.words_of(q)) if q is not None else ()
    if q is not None and not words:
        raise InvalidInput("q must contain a letter or a digit")
    if sort is not None and sort not in terms.SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(terms.SORTS)}")
    return Search(words, category, sort or "newest")


def entry_page(wanted: Search, limit: int, cursor: str | None) -> tuple[list[SearchEntry], dict[str, Any] | None]:
    """Up to `limit` matching entries in `wanted`'s order, and the key to continue after (None: the end).

    Reads until `limit` matches and one more are found (a full last page then says it is the last),
    the partition ends, or MAX_EXAMINED entries were filtered (then the page ends short, with a
    cursor after the last entry read). Newest order reads the table backwards, price order gsi1.
    """
    partition = entry_pk(wanted.term)
    if wanted.sort == "newest":
        index: Any = SearchEntry
        names, fixed = {"pk", "sk"}, {"pk": partition}
    else:
        index, names, fixed = SearchEntry.by_price, {"pk", "sk", "gsi1pk", "gsi1sk"}, {"gsi1pk": partition}
    start = pagination.decode_cursor(cursor, wanted.scope, names, fixed) if cursor else None
    results = index.query(partition, scan_index_forward=wanted.sort == "price_asc",
                          page_size=max(limit + 1, FILTERING_QUERY_PAGE) if wanted.filters else limit + 1,
                          last_evaluated_key=start)
    found: list[SearchEntry] = []
    try:
        for examined, entry in enumerate(results, start=1):
            if wanted.wants(entry):
                if len(found) == limit:
                    return found, _key(found[-1], names)
                found.append(entry)
            if examined >= MAX_EXAMINED:
                return found, _key(entry, names)
    except QueryError as exc:
        if start is not None and exc.cause_response_code == "ValidationException":
            raise InvalidInput(pagination.MALFORMED) from None
        raise
    return found, None


def _key(item: Any, names: set[str]) -> dict[str, Any]:
    return {name: {"S": getattr(item, name)} for name in sorted(names)}


def category_page(limit: int, cursor: str | None) -> pagination.Page:
    """Categories with at least one active product, by name, paged: one Query (more only to pass
    categories whose products were all deleted)."""
    names, fixed = {"pk", "sk"}, {"pk": CATEGORIES_PK}
    start = pagination.decode_cursor(cursor, "categories", names, fixed) if cursor else None
    results = CategoryCount.query(CATEGORIES_PK, filter_condition=CategoryCount.products > 0,
                                  page_size=limit + 1, last_evaluated_key=start)
    items: list[CategoryCount] = []
    try:
        for item in results:
            if len(items) == limit:
                return pagination.page_of(_categories(items), "categories", _key(items[-1], names))
            items.append(item)
    except QueryError as exc:
        if start is not None and exc.cause_response_code == "ValidationException":
            raise InvalidInput(pagination.MALFORMED) from None
        raise
    return pagination.page_of(_categories(items), "categories", None)


def _categories(items: list[CategoryCount]) -> list[dict[str, Any]]:
    return [{"category": item.sk, "products": int(item.products)} for item in items]
