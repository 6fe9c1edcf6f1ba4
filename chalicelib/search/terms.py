"""Words and index terms of products and searches (contract section 3): pure functions, no AWS.

A product matches `q` when every word of `q` is a prefix of one of the product's words; words are
maximal runs of letters and digits of its name, SKU and category, compared case-folded with accents
removed (Unicode NFKD, combining marks dropped: "Café" is "cafe"). Nothing here is a library's job:
the standard library's `unicodedata` does the folding, and the rest is a few lines that must match
the index's own key layout (docs/scaling.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

PREFIX_LENGTHS = 3  # "kettle" is indexed under w:k, w:ke and w:ket; a longer query word reads w:ket
# Per product: a change deleting the old terms and writing the new ones, with the product, 10 stock
# shards, the outbox event and two category counts, fits one transaction of 100 items.
MAX_TERMS = 42
ALL_TERM = "*"  # every active product (price order over the whole catalog)
SORTS = ("newest", "price_asc", "price_desc")  # the orders a search may ask for
MAX_QUERY_LENGTH = 100
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Case-folded, accents removed: "Café CRÈME" -> "cafe creme", "Straße" -> "strasse"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words_of(text: str) -> list[str]:
    """The folded words of `text` in order, each once."""
    return list(dict.fromkeys(_WORD.findall(fold(text))))


def product_words(name: str, sku: str, category: str) -> list[str]:
    return list(dict.fromkeys([*words_of(name), *words_of(sku), *words_of(category)]))


def category_term(category: str) -> str:
    return f"c:{category}"


def terms_of(name: str, sku: str, category: str) -> list[str]:
    """A product's index terms, each once: `*`, `c:<category>`, and `w:<p>` for every prefix `p` of
    1..PREFIX_LENGTHS characters of each of its words."""
    prefixes = [f"w:{word[:length]}" for word in product_words(name, sku, category)
                for length in range(1, min(len(word), PREFIX_LENGTHS) + 1)]
    return list(dict.fromkeys([ALL_TERM, category_term(category), *prefixes]))


def query_term(query_words: Iterable[str]) -> str:
    """The partition a search reads: that of its "rarest" word, the one with the longest indexed
    prefix (the first of equals)."""
    best = max(query_words, key=lambda word: min(len(word), PREFIX_LENGTHS))
    return f"w:{best[:PREFIX_LENGTHS]}"


def matches(query_words: Iterable[str], words: Iterable[str]) -> bool:
    """Every query word is a prefix of some word of the product."""
    own = list(words)
    return all(any(word.startswith(wanted) for word in own) for wanted in query_words)
