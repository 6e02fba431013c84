"""The PostgreSQL search index (``search_docs`` and friends) as an :class:`IndexView`.

Every question the shared :class:`~paperwire.search.engine.SearchEngine` asks is
one or two SQL statements over ``search_docs``, whose rows the triggers of
migration 0008 keep current in the writing transaction (``docs/search.md``,
"Server mode").  A view is cheap: it holds the corpus statistics read with its
signature and memos of the term statistics it looked up.

Keywords: a paper's BM25 for a query is one sparse inner product, ``impacts ·
q``, where ``impacts`` holds the paper's per-term BM25 impacts (computed on
write) and ``q`` the query terms' idf (computed here from ``search_terms``), so
the score equals tantivy's.  Candidates come from the GIN index on the
weighted tsvector (see :mod:`.keywords` for how the top-k is found without
scoring every match of a common word).

Vectors: pgvector HNSW over ``halfvec(384)`` (inner product on normalised
vectors), with iterative index scans so that a filtered query still fills its
top-k; an exact scan where the embedded side is exact (small collections and
small filtered subsets).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...db import Database
from ..keyword import (
    AUTHOR_BOOST,
    K1,
    STOPWORDS,
    Filters,
    KeywordHit,
    RankedTerms,
    common_tokens,
    evidence_scale,
)
from ..query import Clause, ParsedQuery
from . import keywords
from .sql import (
    Where,
    add_filters,
    idf,
    key_of,
    parse_vector,
    phrase,
    query_category_terms,
    quote_lexeme,
    sparse_literal,
    vector_literal,
)

# As in the embedded view: up to this many vectors an exact scan is cheap and exact.
EXACT_MAX = 20_000
EF_SEARCH = 400  # HNSW candidate list (pgvector's hnsw.ef_search; at most 1000)
MAX_SCAN_TUPLES = 40_000  # how far an iterative scan may go to fill a filtered top-k
LISTING_FACETS_MAX = 20_000  # matches whose categories a listing counts
NO_DAY = -(2**31)
_MEMO_MAX = 50_000
# Set on every connection the search uses (see PostgresView._cursor).  Only HNSW
# scans read the hnsw settings, and only this module makes them.  JIT: search
# statements run for milliseconds, and compiling one costs more than that; the
# planner's cost threshold for it is reached by scoring a few thousand matches.
SESSION = {
    "jit": "off",
    "hnsw.iterative_scan": "relaxed_order",
    "hnsw.max_scan_tuples": str(MAX_SCAN_TUPLES),
}
_APPLIED = "paperwire.search.settings"  # key of the settings applied, in the pool's record


@dataclass(frozen=True)
class Stats:
    """Corpus statistics (the ``search_stats`` row) as of the view's signature."""

    docs: int = 0
    title_len: int = 0
    text_len: int = 0
    author_len: int = 0
    champions: int = 1000  # the size of a champion list

    def avg(self, total: int) -> float:
        return total / max(self.docs, 1)


@dataclass(frozen=True)
class Term:
    """A lexeme's row in ``search_terms`` (id 0: not in the index)."""

    id: int = 0
    df: int = 0
    listed: int = 0  # papers on its champion list (0: none, the GIN index finds them all)
    floor: float = 0.0  # the most BM25 impact a paper left off the list can have


NO_TERM = Term()


@dataclass(frozen=True)
class ClauseSql:
    """A required or excluded clause: its match condition and (if it scores) BM25 parts."""

    column: str  # tsv, atsv or cats
    query: str  # tsquery text, or a category
    lexemes: tuple[str, ...] = ()
    title_only: bool = False
    weight: float = 0.0  # Σ idf · (k1 + 1) over the clause's terms
    length: str = "text_len"
    avg: float = 1.0


class PostgresView:
    """One consistent-enough view of the PostgreSQL index (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        signature: tuple,
        stats: Stats,
        model_id: str | None,
        dim: int | None,
    ) -> None:
        self.db = db
        self.signature = signature
        self.stats = stats
        self.model_id = model_id
        self.dim = dim
        # (field, lexeme) -> (id, df, champions listed, their floor)
        self._terms: dict[tuple[str, str], Term] = {}
        self._clauses: dict[Clause, ClauseSql | None] = {}
        self._categories: dict[str, int] = {}
        self._lock = threading.Lock()
        self.outcome = keywords.Outcome()  # how the last keyword top-k was found

    # -- plumbing --------------------------------------------------------------
    @contextmanager
    def _cursor(self, **settings: str) -> Iterator[Any]:
        """A psycopg cursor on a pooled connection in autocommit mode, with our settings.

        Every search statement is one read, so none needs a transaction of its
        own: in autocommit there is no BEGIN and no ROLLBACK around it, two of
        the three round trips each statement took (1.6 ms against 0.16 ms for
        the statement alone on a loaded two-core machine, ~10 statements a
        search).  ``SESSION`` and ``settings`` (``hnsw.ef_search``) are set on
        the connection for its life, and only when they differ from what it
        has, so they cost a round trip once per connection, not per search.

        Statements run unprepared, so PostgreSQL plans each with its actual
        parameters (a generic plan cannot know how common a query word is).
        """
        with self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            fairy = conn.connection
            applied = fairy.info.setdefault(_APPLIED, {})
            wanted = {**SESSION, **settings}
            changed = {k: v for k, v in wanted.items() if applied.get(k) != v}
            with fairy.driver_connection.cursor() as cur:
                if changed:
                    names = list(changed)
                    cur.execute(
                        "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in names),
                        [x for k in names for x in (k, changed[k])],
                        prepare=False,
                    )
                    applied.update(changed)
                yield cur

    def _all(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self._cursor() as cur:
            cur.execute(sql, params or {}, prepare=False)
            return cur.fetchall()

    def key_of(self, paper_id: str) -> int:
        return key_of(paper_id)

    def has_paper(self, paper_id: str) -> bool:
        return bool(self._all("SELECT 1 FROM search_docs WHERE paper_id = %(p)s", {"p": paper_id}))

    # -- terms -------------------------------------------------------------------
    def _lookup(self, wanted: set[tuple[str, str]]) -> None:
        """Fill the term memo for ``(field, lexeme)`` pairs."""
        missing = [w for w in wanted if w not in self._terms]
        if not missing:
            return
        rows = self._all(
            "SELECT q.f, q.l, t.id, t.df, t.listed, t.floor"
            " FROM unnest(%(f)s::text[], %(l)s::text[]) AS q(f, l)"
            ' JOIN search_terms t ON t.field = q.f::"char" AND t.lexeme = q.l',
            {"f": [m[0] for m in missing], "l": [m[1] for m in missing]},
        )
        found = {
            (f, lex): Term(int(i), int(df), int(listed), float(floor))
            for f, lex, i, df, listed, floor in rows
        }
        with self._lock:
            if len(self._terms) > _MEMO_MAX:
                self._terms.clear()
            for m in missing:
                self._terms[m] = found.get(m, NO_TERM)

    def term(self, field: str, lexeme: str) -> Term:
        """The statistics of a lexeme in ``field`` ('t' title and abstract, 'a' authors)."""
        key = (field, lexeme)
        if key not in self._terms:
            self._lookup({key})
        return self._terms.get(key, NO_TERM)

    def idf(self, df: int) -> float:
        return idf(df, max(1, self.stats.docs))

    def ranked_terms(self, parsed: ParsedQuery) -> RankedTerms:
        """As the embedded index does it, with PostgreSQL's tokens and statistics."""
        if not parsed.terms:
            return RankedTerms()
        rows = self._all(
            "SELECT w.i, n.name, (ts_lexize('search_stem', n.name))[1]"
            " FROM unnest(%(words)s::text[]) WITH ORDINALITY AS w(word, i),"
            " LATERAL (SELECT u.lexeme AS name, min(p) AS pos"
            "   FROM unnest(to_tsvector('search_names', search_norm(w.word))) u,"
            "        unnest(u.positions) p GROUP BY u.lexeme) n"
            " ORDER BY w.i, n.pos",
            {"words": list(parsed.terms)},
        )
        stem_of = {name: stem or name for _, name, stem in rows}

        def names_of(keep_stopwords: bool) -> list[str]:
            return list(
                dict.fromkeys(
                    name for _, name, _ in rows if keep_stopwords or name not in STOPWORDS
                )
            )

        names = names_of(False) or names_of(True)
        tokens = list(dict.fromkeys(stem_of[n] for n in names))
        self._lookup({("t", t) for t in tokens} | {("a", n) for n in names})
        weights = [self.idf(self.term("t", t).df) for t in tokens]
        authors = []
        for name in names:
            as_name = self.term("a", name).df
            as_word = self.term("t", stem_of[name]).df
            if as_name and as_name > as_word:
                authors.append(name)
                weights.append(AUTHOR_BOOST * self.idf(as_name))
        dfs = [self.term("t", t).df for t in tokens]
        common = common_tokens(tokens, dfs, self.stats.docs, names=len(authors))
        return RankedTerms(tuple(tokens), tuple(authors), evidence_scale(weights), common)

    def query_weights(self, terms: RankedTerms) -> dict[int, float]:
        """The query's sparse vector: idf per known term (the author boost on names)."""
        self._lookup({("t", t) for t in terms.tokens} | {("a", n) for n in terms.names})
        weights: dict[int, float] = {}
        for field, lexemes, boost in (("t", terms.tokens, 1.0), ("a", terms.names, AUTHOR_BOOST)):
            for lexeme in lexemes:
                term = self.term(field, lexeme)
                if term.id and term.df:
                    weights[term.id] = weights.get(term.id, 0.0) + boost * self.idf(term.df)
        return weights

    # -- clauses -------------------------------------------------------------------
    def _compile(self, clauses: Sequence[Clause]) -> None:
        """Tokenise clause values in PostgreSQL (the documents' own pipeline), once each."""
        todo = [c for c in dict.fromkeys(clauses) if c not in self._clauses and c.field != "cat"]
        for c in clauses:
            if c.field == "cat" and c not in self._clauses:
                self._clauses[c] = ClauseSql("cats", c.value)
        if not todo:
            return
        configs = ["search_names" if c.field == "author" else "search_words" for c in todo]
        rows = self._all(
            "SELECT c.i, u.lexeme, p FROM unnest(%(v)s::text[], %(cfg)s::text[])"
            " WITH ORDINALITY AS c(v, cfg, i),"
            " LATERAL unnest(to_tsvector(c.cfg::regconfig, search_norm(c.v))) u,"
            " LATERAL unnest(u.positions) p ORDER BY c.i, p",
            {"v": [c.value for c in todo], "cfg": configs},
        )
        tokens: dict[int, list[str]] = {}
        for i, lexeme, _ in rows:
            tokens.setdefault(int(i) - 1, []).append(lexeme)
        wanted = set()
        for i, c in enumerate(todo):
            field = "a" if c.field == "author" else "t"
            wanted |= {(field, t) for t in tokens.get(i, [])}
        self._lookup(wanted)
        for i, c in enumerate(todo):
            toks = tuple(tokens.get(i, []))
            if not toks:
                self._clauses[c] = None  # nothing to match: the clause is ignored
                continue
            field = "a" if c.field == "author" else "t"
            weight = sum(self.idf(self.term(field, t).df) for t in toks) * (K1 + 1)
            stats = self.stats
            if c.field == "author":
                sql = ClauseSql(
                    "atsv", phrase(toks), toks, False, weight, "author_len",
                    stats.avg(stats.author_len),
                )  # fmt: skip
            elif c.field == "title":
                sql = ClauseSql(
                    "tsv", phrase(toks, "A"), toks, True, weight, "title_len",
                    stats.avg(stats.title_len),
                )  # fmt: skip
            else:
                sql = ClauseSql(
                    "tsv", phrase(toks), toks, False, weight, "text_len",
                    stats.avg(stats.text_len),
                )  # fmt: skip
            self._clauses[c] = sql

    def clause(self, c: Clause) -> ClauseSql | None:
        if c not in self._clauses:
            self._compile([c])
        return self._clauses.get(c)

    @staticmethod
    def clause_condition(c: ClauseSql, where: Where) -> str:
        if c.column == "cats":
            return f"cats @> ARRAY[{where.param(c.query)}]::text[]"
        return f"{c.column} @@ {where.param(c.query)}::tsquery"

    @staticmethod
    def clause_score(c: ClauseSql, where: Where) -> str | None:
        if c.column == "cats" or not c.weight:
            return None
        freq = (
            f"search_phrase_freq({c.column}, {where.param(list(c.lexemes))}::text[],"
            f" {'true' if c.title_only else 'false'})"
        )
        return (
            f"search_bm25({freq}, {c.length}, {where.param(c.avg)}::float8,"
            f" {where.param(c.weight)}::float8)"
        )

    def constraints(
        self, parsed: ParsedQuery, filters: Filters, where: Where, *, required: bool = True
    ) -> list[ClauseSql]:
        """Add excluded clauses, filters (and required clauses); return the required ones."""
        self._compile([*parsed.required, *parsed.excluded])
        req = [x for x in (self.clause(c) for c in parsed.required) if x is not None]
        if required:
            for c in req:
                where.add(self.clause_condition(c, where))
        for c in parsed.excluded:
            x = self.clause(c)
            if x is not None:
                where.add(f"NOT ({self.clause_condition(x, where)})")
        add_filters(where, filters)
        return req

    # -- keywords ------------------------------------------------------------------
    def keyword_top(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        terms: RankedTerms | None,
        limit: int,
        *,
        count: bool = True,
    ) -> tuple[list[KeywordHit], int]:
        return keywords.top(self, parsed, filters, terms, limit, count=count)

    def keyword_scores(
        self, parsed: ParsedQuery, filters: Filters, terms: RankedTerms, keys: list[int]
    ) -> dict[int, float]:
        if not keys:
            return {}
        hits, _ = keywords.top(self, parsed, filters, terms, len(keys), count=False, keys=keys)
        return {h.key: h.score for h in hits}

    def passing(self, parsed: ParsedQuery, filters: Filters, keys: list[int]) -> set[int]:
        if not keys:
            return set()
        where = Where()
        where.add(f"key = ANY({where.param([int(k) for k in keys])}::bigint[])")
        self.constraints(parsed, filters, where)
        rows = self._all(f"SELECT key FROM search_docs WHERE {where.sql()}", where.params)
        return {int(r[0]) for r in rows}

    def listing(
        self, parsed: ParsedQuery, filters: Filters, order: str, limit: int, offset: int
    ) -> tuple[list[int], int]:
        where = Where()
        self.constraints(parsed, filters, where)
        if order == "upvotes":
            by = "least(greatest(upvotes, 0), 16777215) DESC, key DESC"
        else:
            by = "greatest(coalesce(day, 0), 0) DESC, key DESC"
        rows = self._all(
            f"SELECT key FROM search_docs WHERE {where.sql()} ORDER BY {by}"
            f" LIMIT {where.param(max(1, limit))} OFFSET {where.param(offset)}",
            where.params,
        )
        if not where.parts:
            total = self.stats.docs
        else:
            total = int(
                self._all(f"SELECT count(*) FROM search_docs WHERE {where.sql()}", where.params)[0][
                    0
                ]
            )
        return [int(r[0]) for r in rows][: max(0, limit)], total

    def listing_categories(
        self, parsed: ParsedQuery, filters: Filters, total: int
    ) -> dict[str, int]:
        where = Where()
        self.constraints(parsed, filters, where)
        if not where.parts:  # the whole catalog: the category counts are kept on write
            rows = self._all(
                "SELECT lexeme, df FROM search_terms"
                " WHERE field = 'c' AND df > 0 AND strpos(lexeme, '.') > 0"
            )
            return {str(c): int(n) for c, n in rows}
        if total > LISTING_FACETS_MAX:  # counting would cost more than the page itself
            return {}
        rows = self._all(
            "SELECT c, count(*) FROM search_docs, unnest(cats) c"
            f" WHERE {where.sql()} AND strpos(c, '.') > 0 GROUP BY c",
            where.params,
        )
        return {str(c): int(n) for c, n in rows}

    # -- vectors -------------------------------------------------------------------
    def _category_bound(self, filters: Filters) -> int:
        """At most how many papers pass ``filters`` (from the kept category counts)."""
        bound = self.stats.docs
        groups = [g for g in (filters.categories, filters.query_categories) if g]
        if not groups:
            return bound
        wanted = {c for g in groups for c in query_category_terms(g)} - set(self._categories)
        if wanted:
            rows = self._all(
                "SELECT lexeme, df FROM search_terms WHERE field = 'c' AND lexeme = ANY(%(c)s)",
                {"c": sorted(wanted)},
            )
            found = {str(c): int(n) for c, n in rows}
            with self._lock:
                for c in wanted:
                    self._categories[c] = found.get(c, 0)
        for g in groups:
            bound = min(bound, sum(self._categories.get(c, 0) for c in query_category_terms(g)))
        return bound

    def filter_share(self, filters: Filters) -> float:
        """At most what share of the papers pass ``filters`` (by their categories)."""
        return min(1.0, self._category_bound(filters) / max(1, self.stats.docs))

    def nearest(
        self, qv: np.ndarray, filters: Filters, k: int, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        empty = np.zeros(0, np.uint64), np.zeros(0, np.float32)
        if not self.model_id or k <= 0:
            return empty
        want = k + (1 if exclude is not None else 0)
        where = Where()
        where.add(f"model_id = {where.param(self.model_id)}")
        add_filters(where, filters)
        q = where.param(vector_literal(qv))
        rows: list[tuple] | None = None
        if self._category_bound(filters) > EXACT_MAX:
            ef = str(min(1000, max(EF_SEARCH, want)))
            with self._cursor(**{"hnsw.ef_search": ef}) as cur:
                cur.execute(
                    f"SELECT key, -(embedding <#> {q}::halfvec) FROM search_vectors"
                    f" WHERE {where.sql()} ORDER BY embedding <#> {q}::halfvec"
                    f" LIMIT {where.param(want)}",
                    where.params,
                    prepare=False,
                )
                rows = cur.fetchall()
            if len(rows) < want:  # few papers pass the filters: scanning them is cheap
                rows = None
        if rows is None:  # exact: a scan of the (small) filtered set, not the index
            rows = self._all(
                f"WITH c AS MATERIALIZED (SELECT key, embedding <#> {q}::halfvec AS d"
                f" FROM search_vectors WHERE {where.sql()})"
                f" SELECT key, -d FROM c ORDER BY d, key LIMIT {where.param(want + 8)}",
                where.params,
            )
        keys = np.array([int(r[0]) for r in rows], np.uint64)
        sims = np.array([float(r[1]) for r in rows], np.float32)
        order = np.lexsort((keys, -sims))
        keys, sims = keys[order], sims[order]
        if exclude is not None:
            keep = keys != np.uint64(exclude)
            keys, sims = keys[keep], sims[keep]
        return keys[:k], sims[:k]

    def cosines(self, qv: np.ndarray, keys: np.ndarray) -> dict[int, float]:
        if not self.model_id or not len(keys):
            return {}
        rows = self._all(
            "SELECT key, -(embedding <#> %(q)s::halfvec) FROM search_vectors"
            " WHERE key = ANY(%(k)s::bigint[]) AND model_id = %(m)s",
            {"q": vector_literal(qv), "k": [int(x) for x in keys], "m": self.model_id},
        )
        return {int(k): float(s) for k, s in rows}

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        if not self.model_id:
            return None
        rows = self._all(
            "SELECT embedding::text FROM search_vectors"
            " WHERE paper_id = %(p)s AND model_id = %(m)s",
            {"p": paper_id, "m": self.model_id},
        )
        if not rows or rows[0][0] is None:
            return None
        qv = parse_vector(rows[0][0])
        return qv / max(float(np.linalg.norm(qv)), 1e-12)

    # -- papers --------------------------------------------------------------------
    def sort_values(self, keys: np.ndarray, by: str) -> np.ndarray:
        column = "coalesce(day, -2147483648)" if by == "day" else "upvotes"
        rows = self._all(
            f"SELECT key, {column} FROM search_docs WHERE key = ANY(%(k)s::bigint[])",
            {"k": [int(x) for x in keys]},
        )
        found = {int(k): int(v) for k, v in rows}
        return np.array([found.get(int(k), NO_DAY) for k in keys], np.int64)

    def category_counts(self, keys: np.ndarray) -> dict[str, int]:
        if not len(keys):
            return {}
        rows = self._all(
            "SELECT c, count(*) FROM search_docs, unnest(cats) c"
            " WHERE key = ANY(%(k)s::bigint[]) AND strpos(c, '.') > 0 GROUP BY c",
            {"k": [int(x) for x in keys]},
        )
        return {str(c): int(n) for c, n in rows}

    def ids_of(self, keys: list[int]) -> list[str]:
        if not keys:
            return []
        rows = self._all(
            "SELECT key, paper_id FROM search_docs WHERE key = ANY(%(k)s::bigint[])",
            {"k": [int(x) for x in keys]},
        )
        found = {int(k): str(p) for k, p in rows}
        return [found.get(int(k), "") for k in keys]


__all__ = ["EXACT_MAX", "PostgresView", "Stats", "quote_lexeme", "sparse_literal"]
