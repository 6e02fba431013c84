"""SQL pieces for searching ``search_docs``: literals, filters and clause conditions.

Everything user-supplied travels as a bound parameter; the only values spelled
into SQL text are the names of columns and functions chosen here.  tsquery
literals are assembled from lexemes that PostgreSQL itself produced (letters
and digits only, quoted anyway), so no input can make a query malformed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..keyword import Filters, day_number, query_category_terms

SPARSE_DIM = 1_000_000_000  # the dimension of every impacts vector (term ids below it)
KEY_MASK = (1 << 63) - 1


def key_of(paper_id: str) -> int:
    """The key ``search_docs`` gives a paper: the SQL function ``search_key(id)``."""
    digest = hashlib.md5(paper_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & KEY_MASK


def idf(doc_freq: int, n_docs: int) -> float:
    """tantivy's (Lucene's) BM25 idf."""
    return math.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


def quote_lexeme(lexeme: str, weight: str = "") -> str:
    escaped = lexeme.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}'" + (f":{weight}" if weight else "")


def any_of(lexemes: Iterable[str]) -> str:
    """A tsquery matching documents with any of ``lexemes``."""
    return " | ".join(quote_lexeme(x) for x in lexemes)


def phrase(lexemes: Sequence[str], weight: str = "") -> str:
    """A tsquery for ``lexemes`` in this order, next to each other."""
    return " <-> ".join(quote_lexeme(x, weight) for x in lexemes)


def sparse_literal(weights: dict[int, float]) -> str:
    """A ``sparsevec`` literal (1-based term ids, ascending)."""
    body = ",".join(f"{i}:{float(w)!r}" for i, w in sorted(weights.items()) if w)
    return "{" + body + "}/" + str(SPARSE_DIM)


def vector_literal(v: np.ndarray) -> str:
    return "[" + ",".join(repr(float(x)) for x in np.asarray(v, np.float32)) + "]"


def parse_vector(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.strip("[]").split(",")], np.float32)


@dataclass
class Where:
    """AND-ed conditions with their parameters (named p0, p1, ... as they are added)."""

    parts: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def add(self, condition: str) -> None:
        self.parts.append(condition)

    def sql(self) -> str:
        return " AND ".join(f"({p})" for p in self.parts) if self.parts else "true"

    def copy(self) -> Where:
        return Where(list(self.parts), dict(self.params))


def add_filters(where: Where, filters: Filters) -> None:
    """The filter conditions, as the embedded index applies them."""
    for group in (filters.categories, filters.query_categories):
        if not group:
            continue
        cats = query_category_terms(group)
        if cats:
            where.add(f"cats && {where.param(cats)}::text[]")
        else:  # categories given, none valid: nothing matches
            where.add("false")
    if filters.since:
        where.add(f"day >= {where.param(day_number(filters.since))}")
    if filters.until:
        where.add(f"day <= {where.param(day_number(filters.until))}")
    if filters.min_upvotes is not None:
        where.add(f"upvotes >= {where.param(int(filters.min_upvotes))}::bigint")
    if filters.has_code:
        where.add("has_code")
