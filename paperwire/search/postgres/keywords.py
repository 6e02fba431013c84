"""The keyword retriever in SQL: BM25 top-k over ``search_docs``.

A paper's BM25 is ``-(impacts <#> q)``: its stored per-term impacts against
the query's idf vector.  The candidates are the papers whose tsvector contains
a query term (the GIN index), filtered in the same statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..keyword import Filters, KeywordHit, RankedTerms
from ..query import ParsedQuery
from .sql import Where, any_of, sparse_literal

if TYPE_CHECKING:
    from .view import PostgresView


def top(
    view: PostgresView,
    parsed: ParsedQuery,
    filters: Filters,
    terms: RankedTerms | None,
    limit: int,
    *,
    count: bool = True,
    keys: list[int] | None = None,
) -> tuple[list[KeywordHit], int]:
    """Best ``limit`` matches by BM25 (and required-clause scores), and how many match.

    As in the embedded index: with ``terms`` a paper must contain one of them
    unless the query has a required clause (then they only rank); without
    ``terms`` only the constraints decide, and required clauses score.
    """
    where = Where()
    if keys is not None:
        where.add(f"key = ANY({where.param([int(k) for k in keys])}::bigint[])")
    required = view.constraints(parsed, filters, where)
    scores: list[str] = []
    if terms is not None:
        weights = view.query_weights(terms)
        known_text = [t for t in terms.tokens if view.term("t", t)[1]]
        known_names = [n for n in terms.names if view.term("a", n)[1]]
        match = []
        if known_text:
            match.append(f"tsv @@ {where.param(any_of(known_text))}::tsquery")
        if known_names:
            match.append(f"atsv @@ {where.param(any_of(known_names))}::tsquery")
        if not required:
            if not match:
                return [], 0
            where.add(" OR ".join(match))
        if weights:
            scores.append(f"-(impacts <#> {where.param(sparse_literal(weights))}::sparsevec)")
    for c in required:
        s = view.clause_score(c, where)
        if s:
            scores.append(s)
    score = " + ".join(scores) or "0"
    total = ", count(*) OVER ()" if count else ""
    sql = (
        f"SELECT key, score{total} FROM (SELECT key, ({score})::float8 AS score"
        f" FROM search_docs WHERE {where.sql()}) s"
        f" ORDER BY score DESC, key LIMIT {where.param(max(1, int(limit)))}"
    )
    rows = view._all(sql, where.params)
    hits = [KeywordHit(int(r[0]), float(r[1])) for r in rows]
    return hits, (int(rows[0][2]) if rows else 0) if count else 0
