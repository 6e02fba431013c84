"""The keyword retriever in SQL: BM25 top-k over ``search_docs``.

A paper's BM25 is ``-(impacts <#> q)``: its stored per-term impacts against
the query's idf vector, equal to what tantivy computes.  Which papers get
scored depends on how many could match (words in most papers, such as "model",
make no match by themselves, as in the embedded index: ``RankedTerms.common``):

- **exact**: when the query's terms occur in at most ``EXACT_MATCHES`` papers
  (the sum of their document frequencies, scaled by what the category filter
  lets through), every match is scored, found through the GIN index on the
  tsvector, filtered in the same statement.  Also whenever the query has a
  required clause (phrase, ``title:``, ``author:``) or a fixed set of keys.
- **champions**: otherwise the candidates are the champion lists of the common
  terms (the papers where each weighs most, kept on write), every paper with
  one of the rare terms (the GIN index), and, when few enough, the papers with
  all the common terms.  A paper left out has at most ``Σ idf·floor`` over the
  common terms, so when the k-th candidate scores that much the top-k is
  exact anyway (``Outcome.certified``); otherwise it is the best of a few
  thousand candidates.  ``bench/bench_search_latency.py`` measures its recall
  against the exact top-k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..keyword import Filters, KeywordHit, RankedTerms
from ..query import ParsedQuery
from .sql import Where, any_of, quote_lexeme, sparse_literal

if TYPE_CHECKING:
    from .view import PostgresView

EXACT_MATCHES = 20_000  # matches scored one by one at most (beyond: champion lists)
AND_TIER_MAX = 5_000  # papers with every common term, added when expected to be this few
IMPACTS_MAX = 16_000  # postings an impacts vector holds at most (migration 0008)


@dataclass
class Outcome:
    """How the last top-k was found (for the benchmarks and tests)."""

    path: str = "exact"  # exact | champions
    candidates: int = 0
    certified: bool = True  # the top-k is provably the exact one


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
    ``terms`` only the constraints decide, and required clauses score.  On the
    champion path the number of matches is an estimate (the engine only
    compares it with the length of the list).
    """
    where = Where()
    if keys is not None:
        where.add(f"key = ANY({where.param([int(k) for k in keys])}::bigint[])")
    required = view.constraints(parsed, filters, where)
    scores: list[str] = []
    if terms is None:
        weights: dict[int, float] = {}
    else:
        weights = view.query_weights(terms)
        text = [view.term("t", t) for t in terms.matching]  # common words make no match
        names = [view.term("a", n) for n in terms.names]
        if not required and not any(t.df for t in text + names):
            return [], 0
        estimate = sum(t.df for t in text + names) * view.filter_share(filters)
        if keys is None and not required and estimate > EXACT_MATCHES:
            if terms.common:  # a common word's champions may carry no matching word
                where.add(_carries_condition(view, where, terms))
            return _champions(view, where, terms, weights, limit, estimate)
        if not required:
            carries = _carries_condition if keys is not None else _match_condition
            where.add(carries(view, where, terms))
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
    view.outcome = Outcome("exact", int(rows[0][2]) if rows and count else len(rows))
    hits = [KeywordHit(int(r[0]), float(r[1])) for r in rows]
    return hits, (int(rows[0][2]) if rows else 0) if count else 0


def _match_condition(view: PostgresView, where: Where, terms: RankedTerms) -> str:
    """SQL true for a paper that carries a matching query term (not only common ones).

    Through the GIN indexes on the tsvectors: for finding the matches.
    """
    match = []
    known_text = [t for t in terms.matching if view.term("t", t).df]
    known_names = [n for n in terms.names if view.term("a", n).df]
    if known_text:
        match.append(f"tsv @@ {where.param(any_of(known_text))}::tsquery")
    if known_names:
        match.append(f"atsv @@ {where.param(any_of(known_names))}::tsquery")
    return "(" + " OR ".join(match) + ")"


def _carries_condition(view: PostgresView, where: Where, terms: RankedTerms) -> str:
    """The same test as :func:`_match_condition` for rows already found by key.

    A paper carries a term exactly when its impacts hold the term's id (every
    posting has a positive impact), so the test reads the impacts that scoring
    reads anyway instead of the tsvectors, which are stored out of line (TOAST):
    testing those cost a TOAST fetch per candidate, most of a champion-list
    query's time.  Only a paper with more postings than ``impacts`` holds
    (``IMPACTS_MAX``; only author lists of thousands) is tested on its tsvectors.
    """
    ids = [
        view.term(field, lexeme).id
        for field, lexemes in (("t", terms.matching), ("a", terms.names))
        for lexeme in lexemes
        if view.term(field, lexeme).df and view.term(field, lexeme).id
    ]
    if not ids:
        return "false"
    marks = where.param(sparse_literal(dict.fromkeys(ids, 1.0)))
    exact = _match_condition(view, where, terms)
    return (
        f"((impacts <#> {marks}::sparsevec) < 0"
        f" OR (text_len + author_len > {IMPACTS_MAX} AND {exact}))"
    )


def _champions(
    view: PostgresView,
    where: Where,
    terms: RankedTerms,
    weights: dict[int, float],
    limit: int,
    estimate: float,
) -> tuple[list[KeywordHit], int]:
    """The top-k among the champion candidates (see the module docstring)."""
    listed, rare_text, rare_names, common_text = [], [], [], []
    bound = 0.0
    for field, lexemes in (("t", terms.tokens), ("a", terms.names)):
        for lexeme in lexemes:
            term = view.term(field, lexeme)
            if not term.df:
                continue
            if term.listed:
                listed.append(term.id)
                bound += weights.get(term.id, 0.0) * term.floor
                if field == "t":
                    common_text.append((lexeme, term.df))
            elif field == "t":
                rare_text.append(lexeme)
            else:
                rare_names.append(lexeme)
    parts = []
    if listed:
        parts.append(
            "SELECT key FROM search_champions"
            f" WHERE term_id = ANY({where.param(listed)}::integer[])"
        )
    if rare_text:
        rare = where.param(any_of(rare_text))
        parts.append(f"SELECT key FROM search_docs WHERE tsv @@ {rare}::tsquery")
    if rare_names:
        rare = where.param(any_of(rare_names))
        parts.append(f"SELECT key FROM search_docs WHERE atsv @@ {rare}::tsquery")
    docs = max(1, view.stats.docs)
    if len(common_text) > 1:  # papers with every common word, if they are few
        expected = docs * math.prod(df / docs for _, df in common_text)
        if expected <= AND_TIER_MAX:
            every = where.param(" & ".join(quote_lexeme(x) for x, _ in common_text))
            parts.append(f"SELECT key FROM search_docs WHERE tsv @@ {every}::tsquery")
    conditions = where.sql()  # filters and exclusions (no column of c but key is named)
    q = where.param(sparse_literal(weights))
    rows = view._all(
        f"WITH c AS (SELECT key FROM ({' UNION '.join(parts)}) u)"
        # The candidates' number as a scalar subquery, counted once: cross-joined,
        # it sat inside the nested loop and was recounted for every paper that
        # passed a filter (4 s for one filtered query at 80k papers).
        f" SELECT d.key, (-(d.impacts <#> {q}::sparsevec))::float8 AS score,"
        f" (SELECT count(*) FROM c) AS n"
        # Looked up by key: joined, the planner hashes all of search_docs instead
        # (2x slower over 60 queries at 80k papers, bench/bench_relevance.py --postgres).
        f" FROM search_docs d WHERE d.key = ANY(ARRAY(SELECT key FROM c))"
        f" AND {conditions} ORDER BY score DESC, d.key LIMIT {where.param(max(1, int(limit)))}",
        where.params,
    )
    hits = [KeywordHit(int(r[0]), float(r[1])) for r in rows]
    certified = len(hits) >= limit and hits[-1].score >= bound
    view.outcome = Outcome("champions", int(rows[0][2]) if rows else 0, certified)
    return hits, max(len(hits) + 1, int(estimate))
