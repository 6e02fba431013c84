"""The keyword index: BM25 over title (boosted), abstract and authors, in tantivy.

Why tantivy rather than SQLite FTS5: tantivy ranks with block-max WAND, so a
top-k BM25 query touches a small part of the posting lists, while FTS5's
``bm25()`` scores every matching row before sorting (see
``bench/bench_search_latency.py`` for the measurement at 80k and 1M papers).
Filters (date range, categories, upvotes) and sorts run inside tantivy on fast
fields, so a selective filter never starves the top-k.

Queries are built from :class:`~paperwire.search.query.ParsedQuery` clauses with
tantivy's query constructors, never with its query-string parser, so user
input cannot produce a syntax error.  Query words go through the same
analyzers as the indexed text (see :func:`analyze`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import tantivy

from .query import Clause, ParsedQuery

TEXT_ANALYZER = "paper_en"
NAME_ANALYZER = "paper_names"

# Field weights: a title word is stronger evidence than an abstract word.  Set by
# hand (not tuned); bench/bench_relevance.py reports what they give.
TITLE_BOOST = 2.0
AUTHOR_BOOST = 1.0

# Ranked words that add cost but no meaning when other words are present.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "we",
        "were",
        "which",
        "with",
        "via",
        "using",
        "based",
        "towards",
        "toward",
        "our",
    ]
)

NO_DAY = -(2**31)


def _analyzer(stem: bool) -> tantivy.TextAnalyzer:
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(60))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


_TEXT = _analyzer(stem=True)
_NAMES = _analyzer(stem=False)


def analyze(text: str, *, names: bool = False) -> list[str]:
    """Tokens of ``text`` exactly as the index stores them."""
    return list((_NAMES if names else _TEXT).analyze(text))


def day_number(day: date | None) -> int:
    """Days since 1970-01-01, the integer the index stores for dates."""
    return NO_DAY if day is None else day.toordinal() - 719163


def query_category_terms(categories: Iterable[str]) -> list[str]:
    """Filter terms: ``cs.CL`` matches that category, ``cs`` any of its archive."""
    return list(dict.fromkeys(c.strip().lower() for c in categories if str(c).strip()))


def category_terms(categories: Iterable[str]) -> list[str]:
    """Index terms for categories: each one lower-cased, plus its archive (``cs``)."""
    out: dict[str, None] = {}
    for cat in categories:
        cat = str(cat).strip().lower()
        if not cat:
            continue
        out[cat] = None
        out[cat.split(".", 1)[0]] = None
    return list(out)


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("key", stored=False, indexed=True, fast=True)
    sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("title", tokenizer_name=TEXT_ANALYZER, index_option="position")
    sb.add_text_field("abstract", tokenizer_name=TEXT_ANALYZER, index_option="position")
    sb.add_text_field("authors", tokenizer_name=NAME_ANALYZER, index_option="position")
    sb.add_text_field("cats", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("day", indexed=True, fast=True)
    sb.add_integer_field("upvotes", indexed=True, fast=True)
    return sb.build()


@dataclass(frozen=True)
class Filters:
    """Constraints shared by the keyword and vector paths."""

    categories: tuple[str, ...] = ()
    query_categories: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    min_upvotes: int | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.categories
            or self.query_categories
            or self.since
            or self.until
            or self.min_upvotes is not None
        )


@dataclass(frozen=True)
class KeywordHit:
    key: int
    score: float
    sort_value: int | float | None = None


class KeywordIndex:
    """One tantivy index directory, opened for reading and (optionally) writing."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = Path(path)
        self.schema = build_schema()
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            self.index = tantivy.Index(self.schema, path=str(self.path), reuse=False)
        else:
            self.index = tantivy.Index.open(str(self.path))
        self.index.register_tokenizer(TEXT_ANALYZER, _analyzer(stem=True))
        self.index.register_tokenizer(NAME_ANALYZER, _analyzer(stem=False))

    # -- writing -----------------------------------------------------------
    def writer(self, threads: int = 1, heap_mb: int = 128) -> tantivy.IndexWriter:
        return self.index.writer(heap_size=heap_mb * 1_000_000 * threads, num_threads=threads)

    @staticmethod
    def document(key: int, row: dict) -> tantivy.Document:
        """The index document for one catalog row (``papers`` columns)."""
        doc = tantivy.Document()
        doc.add_unsigned("key", key)
        doc.add_text("id", row["id"])
        doc.add_text("title", row.get("title") or "")
        doc.add_text("abstract", row.get("abstract") or "")
        for name in row.get("authors") or []:
            doc.add_text("authors", str(name))
        for term in category_terms(row.get("categories") or []):
            doc.add_text("cats", term)
        doc.add_integer("day", day_number(row.get("listed_on") or row.get("submitted")))
        doc.add_integer("upvotes", int(row.get("upvotes") or 0))
        return doc

    def reload(self) -> None:
        self.index.reload()

    def num_docs(self) -> int:
        return self.index.searcher().num_docs

    # -- query building ----------------------------------------------------
    def _term(self, fld: str, token: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, fld, token)

    def _phrase_or_term(self, fld: str, tokens: Sequence[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return self._term(fld, tokens[0])
        return tantivy.Query.phrase_query(self.schema, fld, list(tokens))

    def _word_clauses(self, word: str, *, keep_stopwords: bool) -> list[tantivy.Query]:
        """A ranked word's term queries: title (boosted), abstract, authors.

        Stopword tokens inside a word ("text-to-image", "chain-of-thought") are
        dropped like whole stopwords: "to" and "of" match most abstracts, and
        scoring them is most of the cost of such a query at a million papers.
        """
        out: list[tantivy.Query] = []
        names = [t for t in analyze(word, names=True) if keep_stopwords or t not in STOPWORDS]
        for name in names:
            for token in analyze(name):
                out.append(tantivy.Query.boost_query(self._term("title", token), TITLE_BOOST))
                out.append(self._term("abstract", token))
            out.append(tantivy.Query.boost_query(self._term("authors", name), AUTHOR_BOOST))
        return out

    def _clause_query(self, clause: Clause) -> tantivy.Query | None:
        if clause.field == "cat":
            return self._term("cats", clause.value)
        if clause.field == "author":
            tokens = analyze(clause.value, names=True)
            return self._phrase_or_term("authors", tokens) if tokens else None
        tokens = analyze(clause.value)
        if not tokens:
            return None
        if clause.field == "title":
            return self._phrase_or_term("title", tokens)
        return tantivy.Query.boolean_query(
            [
                (
                    tantivy.Occur.Should,
                    tantivy.Query.boost_query(self._phrase_or_term("title", tokens), TITLE_BOOST),
                ),
                (tantivy.Occur.Should, self._phrase_or_term("abstract", tokens)),
            ]
        )

    def _filter_queries(self, filters: Filters) -> list[tantivy.Query]:
        out: list[tantivy.Query] = []
        for group in (filters.categories, filters.query_categories):
            cats = query_category_terms(group)
            if cats:
                out.append(tantivy.Query.term_set_query(self.schema, "cats", cats))
            elif group:  # categories given, none valid: match nothing
                out.append(tantivy.Query.empty_query())
        if filters.since or filters.until:
            out.append(
                tantivy.Query.range_query(
                    self.schema,
                    "day",
                    tantivy.FieldType.Integer,
                    day_number(filters.since) if filters.since else NO_DAY + 1,
                    day_number(filters.until) if filters.until else 2**31,
                )
            )
        if filters.min_upvotes is not None:
            out.append(
                tantivy.Query.range_query(
                    self.schema,
                    "upvotes",
                    tantivy.FieldType.Integer,
                    int(filters.min_upvotes),
                    2**62,
                )
            )
        return out

    def build_query(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        *,
        ranked: bool = True,
        restrict_keys: Sequence[int] | None = None,
    ) -> tantivy.Query:
        """The tantivy query for ``parsed`` under ``filters``.

        Ranked words are a should-group that must match at least once unless a
        required phrase/author/title clause exists (then they only rank).
        ``ranked=False`` keeps only constraints: used to check vector hits.
        """
        must: list[tantivy.Query] = []
        must_not: list[tantivy.Query] = []
        words = [t for t in parsed.terms if t.lower() not in STOPWORDS]
        word_terms: list[tantivy.Query] = []
        if ranked:
            word_terms = [q for w in words for q in self._word_clauses(w, keep_stopwords=False)]
            if not word_terms:  # only stopwords ("to be or not to be"): rank by them
                word_terms = [
                    q for w in parsed.terms for q in self._word_clauses(w, keep_stopwords=True)
                ]
        required = [q for q in (self._clause_query(c) for c in parsed.required) if q is not None]
        excluded = [q for q in (self._clause_query(c) for c in parsed.excluded) if q is not None]
        filter_queries = self._filter_queries(filters)
        subs: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if word_terms:
            if required or not (filter_queries or restrict_keys is not None):
                # Flat term clauses: tantivy's block-max WAND skips most documents of
                # a flat disjunction, not of nested ones (twice as fast at 1M papers).
                # Without a Must clause at least one word must match; beside a
                # required phrase/author the words only rank.
                subs.extend((tantivy.Occur.Should, q) for q in word_terms)
            else:  # beside filters, a word must still match: group them
                group = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in word_terms])
                subs.append((tantivy.Occur.Must, group))
        must.extend(required)
        must.extend(tantivy.Query.const_score_query(q, 0.0) for q in filter_queries)
        if restrict_keys is not None:
            must.append(
                tantivy.Query.const_score_query(
                    tantivy.Query.term_set_query(
                        self.schema, "key", [int(k) for k in restrict_keys]
                    ),
                    0.0,
                )
            )
        must_not.extend(excluded)
        subs.extend((tantivy.Occur.Must, q) for q in must)
        subs.extend((tantivy.Occur.MustNot, q) for q in must_not)
        if not any(o is tantivy.Occur.Must for o, _ in subs) and not word_terms:
            subs.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(subs)

    # -- searching ---------------------------------------------------------
    def search(
        self,
        query: tantivy.Query,
        limit: int,
        *,
        sort: str = "relevance",
        count: bool = True,
    ) -> tuple[list[KeywordHit], int]:
        """Top ``limit`` hits as (key, score) and the number of matches."""
        searcher = self.index.searcher()
        limit = max(1, int(limit))
        if sort == "newest":
            result = searcher.search(query, limit, count=count, order_by_field="day")
        elif sort == "upvotes":
            result = searcher.search(query, limit, count=count, order_by_field="upvotes")
        else:
            result = searcher.search(query, limit, count=count)
        addrs = [addr for _, addr in result.hits]
        keys = searcher.fast_field_values("key", addrs) if addrs else []
        hits = [
            KeywordHit(
                int(k), float(v) if sort == "relevance" else 0.0, None if sort == "relevance" else v
            )
            for (v, _), k in zip(result.hits, keys, strict=True)
            if k is not None
        ]
        return hits, int(result.count or 0) if count else len(hits)

    def matching_keys(self, query: tantivy.Query, limit: int) -> set[int]:
        """Keys of documents matching ``query`` (used to check vector hits)."""
        hits, _ = self.search(query, limit, count=False)
        return {h.key for h in hits}

    def id_of_key(self, key: int) -> str | None:
        searcher = self.index.searcher()
        result = searcher.search(self._term("key", key), 1, count=False)  # type: ignore[arg-type]
        for _, addr in result.hits:
            return searcher.doc(addr).get_first("id")
        return None
