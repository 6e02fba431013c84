"""The keyword index: BM25 over title and abstract as one field, in tantivy.

Why one field: summing separate BM25 scores for title, abstract and authors
(what this module did before) lets a query word that happens to be a surname
or a short title word outweigh the words that describe the paper, and on
paraphrased queries it lost badly to plain single-field BM25
(``bench/bench_relevance.py``).  The ``text`` field holds the title
``TITLE_REPEAT`` times and then the abstract: repeating the title is BM25F
with a title weight, term frequencies added before BM25 saturates them and one
length normalisation for the whole document (Robertson et al., "Simple BM25
extension to multiple weighted fields", CIKM 2004).

Query words are matched against author names only when they are more often a
name than a word (``chen``, ``hinton`` rather than ``long`` or ``young``).

Why tantivy rather than SQLite FTS5: BM25F over the fields, and filters (date
range, categories, upvotes, has code) and sorts run inside it on fast fields,
so a selective filter never starves the candidates.  Its Python binding scores
every document that contains a ranked word (its collector cannot use block-max
WAND), which is why words in most papers rank but do not match
(``RankedTerms.common``).  Queries are
built with tantivy's query constructors, never with its query-string parser,
so user input cannot produce a syntax error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

import tantivy

from .query import Clause, ParsedQuery

TEXT_ANALYZER = "paper_en"
NAME_ANALYZER = "paper_names"

# The title counts this many times in the ``text`` field (BM25F title weight).
TITLE_REPEAT = 2
# tantivy's BM25 constant k1 (fixed in tantivy): a term's score tends to idf·(k1+1).
K1 = 1.2
AUTHOR_BOOST = 1.0
# A paper that fully carries this many of a query's most telling terms carries all
# the keyword evidence one can ask of it (RankedTerms.scale).
EVIDENCE_TERMS = 5
# A word in more than this share of the papers ("model" is in 80% of a CS
# catalog) ranks the papers that match the query's other words but does not
# make a match by itself (see RankedTerms.common); below COMMON_MIN_DOCS papers
# document frequencies say too little to tell.
COMMON_SHARE = 0.5
COMMON_MIN_DOCS = 10_000
# Requiring a matching word beside the common ones makes tantivy seek each common
# word's postings for every paper with a matching word; one flat disjunction of
# all the words reads them in order instead.  The flat query is cheaper once the
# matching words' postings are at least this share of the common words' (break-
# even measured at 1M papers: "interactive world model", 330k against 800k).
FLAT_RATIO = 0.4

# Function words: they add cost and no meaning when other words are present.
# fmt: off
STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
        "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
        "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
        "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
        "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
        "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once",
        "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so",
        "some", "such", "than", "that", "the", "their", "theirs", "them", "then", "there", "these",
        "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "via",
        "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
        "will", "with", "would", "you", "your", "towards", "toward", "using", "based",
    }
)
# fmt: on

NO_DAY = -(2**31)
# Sort keys are unique per paper (day or upvotes in the high bits, the paper key
# in the low ones), so "newest" and "most upvoted" are total orders and a page
# boundary never depends on how tantivy happens to lay out its segments.
_ORDER_LOW_BITS = 40
_ORDER_LOW_MASK = (1 << _ORDER_LOW_BITS) - 1


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


def day_order(day: int, key: int) -> int:
    """The unique "newest first" sort key of a paper (larger is newer)."""
    return ((max(day, 0) & 0xFFFFFF) << _ORDER_LOW_BITS) | (key & _ORDER_LOW_MASK)


def votes_order(upvotes: int, key: int) -> int:
    """The unique "most upvoted first" sort key of a paper."""
    return ((min(max(upvotes, 0), 0xFFFFFF)) << _ORDER_LOW_BITS) | (key & _ORDER_LOW_MASK)


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
    sb.add_text_field("text", tokenizer_name=TEXT_ANALYZER, index_option="position")
    sb.add_text_field("title", tokenizer_name=TEXT_ANALYZER, index_option="position")
    sb.add_text_field("authors", tokenizer_name=NAME_ANALYZER, index_option="position")
    sb.add_text_field("cats", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("day", indexed=True, fast=True)
    sb.add_integer_field("upvotes", indexed=True, fast=True)
    sb.add_unsigned_field("code", indexed=True, fast=True)
    sb.add_unsigned_field("day_order", fast=True)
    sb.add_unsigned_field("votes_order", fast=True)
    return sb.build()


def has_code(row: dict) -> bool:
    return bool(row.get("code_links"))


@dataclass(frozen=True)
class Filters:
    """Constraints shared by the keyword and vector paths."""

    categories: tuple[str, ...] = ()
    query_categories: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    min_upvotes: int | None = None
    has_code: bool = False

    @property
    def active(self) -> bool:
        return bool(
            self.categories
            or self.query_categories
            or self.since
            or self.until
            or self.min_upvotes is not None
            or self.has_code
        )


class KeywordHit(NamedTuple):
    """One keyword match (a tuple: a query lists up to a thousand of them)."""

    key: int
    score: float


@dataclass(frozen=True)
class RankedTerms:
    """The ranked part of a query: ``text`` tokens, author names, and their BM25 scale.

    ``scale`` is the BM25 of a paper that fully carries the query's
    ``EVIDENCE_TERMS`` most telling terms (a term's score tends to idf·(k1+1) as
    it repeats), so ``min(1, score / scale)`` says how much keyword evidence a
    paper carries, comparably across papers, pages and queries.  Why not all the
    terms: nobody's paper repeats a fifteen-word description word for word, so
    over all terms a long query's best match would look as weak as a short
    query's poor one (on the train split, counting four terms also ranked
    paraphrased queries better).
    """

    tokens: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    scale: float = 0.0
    # Those of ``tokens`` in most papers: they add to the BM25 of a paper that
    # contains another query term, and a paper with nothing but them is no
    # keyword match (unless every term is one).  Their idf is a fraction of a
    # rare word's, so such a paper could never lead a keyword list that has
    # other matches, but listing it means scoring most of the catalog.
    common: tuple[str, ...] = ()
    # The most BM25 a paper with nothing but common words can have (each term's
    # score is below idf·(k1+1)), and whether the matching words are frequent
    # enough that scoring every word at once is cheaper (``FLAT_RATIO``).
    common_bound: float = 0.0
    flat_first: bool = False

    @property
    def matching(self) -> tuple[str, ...]:
        """The tokens that make a paper a keyword match."""
        return tuple(t for t in self.tokens if t not in self.common)

    def proves_a_match(self, score: float) -> bool:
        """Whether a paper with this BM25 must contain a matching word: more than
        ``common_bound`` (with a margin for tantivy's float32 sums)."""
        return score > self.common_bound * 1.0001 + 1e-6


class KeywordIndex:
    """One tantivy index directory, opened for reading and (optionally) writing."""

    def __init__(self, path: Path, *, create: bool = False, snapshot: bool = False) -> None:
        """``snapshot``: take one searcher and keep it, so that every question
        asked through this object sees the same commit (the service's view of
        one index generation; writers and their checks want the latest commit).
        """
        self.path = Path(path)
        self.schema = build_schema()
        self._snapshot = snapshot
        self._searcher: tantivy.Searcher | None = None
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
        title = row.get("title") or ""
        day = day_number(row.get("listed_on") or row.get("submitted"))
        upvotes = int(row.get("upvotes") or 0)
        doc.add_unsigned("key", key)
        doc.add_text("id", row["id"])
        for _ in range(TITLE_REPEAT):
            doc.add_text("text", title)
        doc.add_text("text", row.get("abstract") or "")
        doc.add_text("title", title)
        for name in row.get("authors") or []:
            doc.add_text("authors", str(name))
        for term in category_terms(row.get("categories") or []):
            doc.add_text("cats", term)
        doc.add_integer("day", day)
        doc.add_integer("upvotes", upvotes)
        doc.add_unsigned("code", 1 if has_code(row) else 0)
        doc.add_unsigned("day_order", day_order(day, key))
        doc.add_unsigned("votes_order", votes_order(upvotes, key))
        return doc

    def reload(self) -> None:
        self.index.reload()
        self._searcher = None

    def searcher(self) -> tantivy.Searcher:
        """The latest commit's searcher, or the snapshot's one."""
        if not self._snapshot:
            return self.index.searcher()
        if self._searcher is None:
            self._searcher = self.index.searcher()
        return self._searcher

    def num_docs(self) -> int:
        return self.searcher().num_docs

    # -- query building ----------------------------------------------------
    def _term(self, fld: str, token: str | int) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, fld, token)

    def _any_term(self, fld: str, values: Sequence[str | int]) -> tantivy.Query:
        """Documents with any of ``values`` in ``fld``.

        A disjunction of term queries, not tantivy's term-set query: that one
        builds a bitset over the whole index (17 ms at 1M papers, against 1.3 ms).
        """
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, self._term(fld, v)) for v in values]
        )

    def _phrase_or_term(self, fld: str, tokens: Sequence[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return self._term(fld, tokens[0])
        return tantivy.Query.phrase_query(self.schema, fld, list(tokens))

    def ranked_terms(self, parsed: ParsedQuery) -> RankedTerms:
        """The query's ranked tokens (stopwords dropped unless nothing else is left).

        Stopword tokens inside a word ("text-to-image", "chain-of-thought") go
        too: "to" and "of" match most abstracts and add only cost.
        """

        def names_of(keep_stopwords: bool) -> list[str]:
            out: list[str] = []
            for word in parsed.terms:
                out.extend(
                    n for n in analyze(word, names=True) if keep_stopwords or n not in STOPWORDS
                )
            return list(dict.fromkeys(out))

        names = names_of(False) or names_of(True)
        tokens = list(dict.fromkeys(t for n in names for t in analyze(n)))
        searcher = self.searcher()
        n_docs = max(1, searcher.num_docs)
        dfs = [searcher.doc_freq("text", token) for token in tokens]
        weights = [_idf(df, n_docs) for df in dfs]
        authors, author_dfs = [], []
        for name in names:
            as_name = searcher.doc_freq("authors", name)
            as_word = max((searcher.doc_freq("text", t) for t in analyze(name)), default=0)
            if as_name and as_name > as_word:
                authors.append(name)
                author_dfs.append(as_name)
                weights.append(AUTHOR_BOOST * _idf(as_name, n_docs))
        common = common_tokens(tokens, dfs, n_docs, names=len(authors))
        common_dfs = [df for t, df in zip(tokens, dfs, strict=True) if t in common]
        matching_dfs = sum(dfs) - sum(common_dfs) + sum(author_dfs)
        return RankedTerms(
            tuple(tokens),
            tuple(authors),
            evidence_scale(weights),
            common,
            common_bound=sum(_idf(df, n_docs) for df in common_dfs) * (K1 + 1),
            flat_first=bool(common) and matching_dfs >= FLAT_RATIO * sum(common_dfs),
        )

    def _ranked_clauses(self, terms: RankedTerms) -> tuple[list[tantivy.Query], ...]:
        """(clauses that make a match, clauses that only rank: the common words)."""
        matching = [self._term("text", t) for t in terms.matching]
        matching += [
            tantivy.Query.boost_query(self._term("authors", n), AUTHOR_BOOST) for n in terms.names
        ]
        return matching, [self._term("text", t) for t in terms.common]

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
        return self._phrase_or_term("text", tokens)

    def _filter_queries(self, filters: Filters) -> list[tantivy.Query]:
        out: list[tantivy.Query] = []
        for group in (filters.categories, filters.query_categories):
            cats = query_category_terms(group)
            if cats:
                out.append(self._any_term("cats", cats))
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
        if filters.has_code:
            out.append(self._term("code", 1))
        return out

    def build_query(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        *,
        terms: RankedTerms | None = None,
        restrict_keys: Sequence[int] | None = None,
    ) -> tantivy.Query:
        """The tantivy query for ``parsed`` under ``filters``.

        With ``terms`` the ranked words score the matches, and at least one of
        them must match unless a required phrase/author/title clause exists (then
        they only rank).  Without ``terms`` only the constraints remain: every
        paper that passes them matches with score 0 (listings, and checking
        vector hits against phrases, authors and exclusions).
        """
        word_terms, rank_only = self._ranked_clauses(terms) if terms is not None else ([], [])
        required = [q for q in (self._clause_query(c) for c in parsed.required) if q is not None]
        excluded = [q for q in (self._clause_query(c) for c in parsed.excluded) if q is not None]
        must = list(required)
        must += [tantivy.Query.const_score_query(q, 0.0) for q in self._filter_queries(filters)]
        if restrict_keys is not None:
            keys = self._any_term("key", [int(k) for k in restrict_keys])
            must.append(tantivy.Query.const_score_query(keys, 0.0))
        subs: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if word_terms:
            if required or restrict_keys is not None or (not must and not rank_only):
                # Flat term clauses: a flat disjunction is tantivy's fastest query
                # (twice as fast at 1M papers as a nested one).  Beside a required
                # clause the words only rank; beside a set of keys they are scored
                # only on those papers (a required group would walk every paper
                # with a word), and every paper of the set matches.
                subs.extend((tantivy.Occur.Should, q) for q in word_terms)
            else:  # beside filters or common words, a word must still match
                group = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in word_terms])
                subs.append((tantivy.Occur.Must, group))
            subs.extend((tantivy.Occur.Should, q) for q in rank_only)
        elif terms is not None:  # ranked words that the index cannot match
            return tantivy.Query.empty_query()
        subs.extend((tantivy.Occur.Must, q) for q in must)
        subs.extend((tantivy.Occur.MustNot, q) for q in excluded)
        if not any(o is tantivy.Occur.Must for o, _ in subs) and not word_terms:
            subs.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(subs)

    # -- searching ---------------------------------------------------------
    def search(
        self, query: tantivy.Query, limit: int, *, count: bool = True
    ) -> tuple[list[KeywordHit], int]:
        """Top ``limit`` hits by score as (key, score), and the number of matches."""
        searcher = self.searcher()
        result = searcher.search(query, max(1, int(limit)), count=count)
        return self._hits(searcher, result.hits), int(result.count or 0) if count else 0

    def top(
        self, parsed: ParsedQuery, filters: Filters, terms: RankedTerms | None, limit: int
    ) -> list[KeywordHit]:
        """The best ``limit`` matches of ``parsed`` (what ``search(build_query(...))`` lists).

        When ``terms.flat_first`` and nothing else constrains the query, one flat
        disjunction of every word is tried first.  It lists the same papers with
        the same scores whenever its last hit scores above ``common_bound``: a
        paper with nothing but common words can score no more than that, so none
        is on the list.  Otherwise the exact query runs after all.
        """
        limit = max(1, int(limit))
        if terms is not None and terms.flat_first and not parsed.required and not filters.active:
            flat = self.build_query(parsed, filters, terms=replace(terms, common=()))
            hits, _ = self.search(flat, limit, count=False)
            if len(hits) == limit and terms.proves_a_match(hits[-1].score):
                return hits
        hits, _ = self.search(self.build_query(parsed, filters, terms=terms), limit, count=False)
        return hits

    def sorted_keys(
        self, query: tantivy.Query, limit: int, *, order: str, offset: int = 0
    ) -> tuple[list[int], int]:
        """Keys of matches in ``order`` (``newest`` or ``upvotes``), and the number of matches."""
        field = "votes_order" if order == "upvotes" else "day_order"
        searcher = self.searcher()
        result = searcher.search(
            query, max(1, int(limit)), count=True, order_by_field=field, offset=int(offset)
        )
        return [h.key for h in self._hits(searcher, result.hits)], int(result.count or 0)

    @staticmethod
    def _hits(searcher: tantivy.Searcher, hits: list) -> list[KeywordHit]:
        """(key, score) of each hit; a sorted listing's hits carry no score (0.0).

        Built without a Python call per hit (``tuple.__new__`` through ``map``):
        a top-1,000 list is built for every query, and per-hit constructor calls
        cost about 1.5 ms of it at 1M papers.
        """
        if not hits:
            return []
        scores, addrs = zip(*hits, strict=True)
        keys = searcher.fast_field_values("key", list(addrs))
        if not isinstance(scores[0], float):
            scores = (0.0,) * len(keys)
        pairs: Iterable[tuple[int, float]] = zip(keys, scores, strict=True)
        if None in keys:  # a document without a key (never written by this module)
            pairs = [(k, s) for k, s in pairs if k is not None]
        return list(map(tuple.__new__, repeat(KeywordHit), pairs))

    def matching_keys(self, query: tantivy.Query, limit: int) -> set[int]:
        """Keys of documents matching ``query`` (used to check vector hits)."""
        hits, _ = self.search(query, limit, count=False)
        return {h.key for h in hits}

    def id_of_key(self, key: int) -> str | None:
        searcher = self.searcher()
        result = searcher.search(self._term("key", key), 1, count=False)
        for _, addr in result.hits:
            return searcher.doc(addr).get_first("id")
        return None


def common_tokens(
    tokens: Sequence[str], dfs: Sequence[int], n_docs: int, *, names: int = 0
) -> tuple[str, ...]:
    """The tokens in more than ``COMMON_SHARE`` of ``n_docs`` papers, when others remain.

    ``names`` counts the query's ranked author names (they always match).  When
    every term is common, none is: the query still matches what it says.
    """
    if n_docs < COMMON_MIN_DOCS:
        return ()
    common = tuple(t for t, df in zip(tokens, dfs, strict=True) if df > COMMON_SHARE * n_docs)
    return common if len(common) < len(tokens) or names else ()


def evidence_scale(idfs: Iterable[float]) -> float:
    """:attr:`RankedTerms.scale` from the query terms' idfs (author names included)."""
    return sum(sorted(idfs, reverse=True)[:EVIDENCE_TERMS]) * (K1 + 1)


def _idf(doc_freq: int, n_docs: int) -> float:
    """tantivy's (Lucene's) BM25 idf."""
    return math.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))
