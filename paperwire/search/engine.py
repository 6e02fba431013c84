"""Hybrid search and similar papers, the same over any index that can answer a few questions.

Both search backends (the embedded files, PostgreSQL) implement
:class:`IndexView`, a consistent view of one index: its keyword retriever, its
vector retriever and a few facts about papers.  This module holds everything
else, so the query language, the result-set rules, fusion, sorting, paging and
similar papers cannot differ between deployments.

A query defines one **result set**, the same on every page:

1. the keyword retriever lists the best ``KEYWORD_DEPTH`` papers that contain a
   query word and pass the filters (BM25 over title and abstract);
2. the vector retriever (on a worker thread, at the same time) lists the
   ``VECTOR_DEPTH`` nearest papers that pass them;
3. every paper on either list gets both pieces of evidence (the exact cosine of
   each keyword candidate, the BM25 of each vector candidate), and
   :func:`~paperwire.search.fusion.fuse` scores it and decides whether it
   matches at all (calibrated floors on each side).

The matching papers, ordered by score (ties by paper key), are the result set.
Nothing in it depends on the page asked for, so the total never drifts and
paging never repeats or skips a paper; ``sort=newest|upvotes`` re-orders that
same set.  When more papers would match than the retrievers list, the result
says ``capped``.  A query without words (filters only, ``author:``, ``cat:``)
lists every match in date or upvote order, exactly.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import repeat
from typing import Any, Protocol

import numpy as np

from ..config import Settings
from .fusion import DEFAULT, Ranking, fuse, keyword_share, unseen_bound
from .keyword import Filters, KeywordHit, RankedTerms
from .query import ParsedQuery, clean_text, normalise_category, parse_query
from .results import Hit, SearchResult

log = logging.getLogger(__name__)

SORTS = ("relevance", "newest", "upvotes")
SIMILAR_SORTS = ("similarity", "newest", "upvotes")
KEYWORD_DEPTH = 1000  # keyword candidates: the deepest keyword match ranked
VECTOR_DEPTH = 200  # vector candidates
MAX_DEPTH = 1000  # offset + limit
SIMILAR_POOL = 30  # nearest papers that "similar, newest first" re-orders
RESULT_CACHE = 256  # result sets kept for paging through them
SWITCH_INTERVAL = 0.001  # seconds; see _executor


class IndexView(Protocol):
    """A consistent view of one search index (what a backend must answer)."""

    signature: Hashable  # changes whenever the index does (keys the result cache)
    model_id: str | None  # the embeddings' model; None: no vectors
    dim: int | None

    def has_paper(self, paper_id: str) -> bool: ...

    def key_of(self, paper_id: str) -> int:
        """The key this index gives ``paper_id`` (whether or not the paper is in it)."""
        ...

    def ranked_terms(self, parsed: ParsedQuery) -> RankedTerms:
        """The query's ranked keyword terms and their BM25 scale (``keyword.evidence_scale``)."""
        ...

    def keyword_top(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        terms: RankedTerms | None,
        limit: int,
        *,
        count: bool = True,
    ) -> tuple[list[KeywordHit], int]:
        """Best ``limit`` keyword matches by BM25 (``terms=None``: by the phrase clauses), and
        how many papers match in all (0 when ``count`` is False)."""
        ...

    def keyword_scores(
        self, parsed: ParsedQuery, filters: Filters, terms: RankedTerms, keys: list[int]
    ) -> dict[int, float]:
        """BM25 of those of ``keys`` that contain a ranked term and pass everything."""
        ...

    def passing(self, parsed: ParsedQuery, filters: Filters, keys: list[int]) -> set[int]:
        """Those of ``keys`` that pass the phrases, authors, exclusions and filters."""
        ...

    def listing(
        self, parsed: ParsedQuery, filters: Filters, order: str, limit: int, offset: int
    ) -> tuple[list[int], int]:
        """Every match of the constraints, ``newest`` or ``upvotes`` first; and their number."""
        ...

    def listing_categories(
        self, parsed: ParsedQuery, filters: Filters, total: int
    ) -> dict[str, int]: ...

    def nearest(
        self, qv: np.ndarray, filters: Filters, k: int, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (keys, cosines) passing ``filters``, best first (ties by key)."""
        ...

    def cosines(self, qv: np.ndarray, keys: np.ndarray) -> dict[int, float]:
        """Exact cosines of those of ``keys`` that have a vector."""
        ...

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        """The stored, normalised vector of a paper."""
        ...

    def sort_values(self, keys: np.ndarray, by: str) -> np.ndarray:
        """``day`` or ``upvotes`` of each key (int64; the smallest int where unknown)."""
        ...

    def category_counts(self, keys: np.ndarray) -> dict[str, int]: ...

    def ids_of(self, keys: list[int]) -> list[str]:
        """Paper ids of ``keys`` ("" where unknown)."""
        ...


@dataclass(frozen=True)
class ResultSet:
    """A query's matching papers, best first, with the evidence for each."""

    keys: np.ndarray  # uint64, in relevance order
    scores: np.ndarray
    cosines: np.ndarray  # NaN where the paper has no vector
    keyword_rank: dict[int, int]
    vector_rank: dict[int, int]
    capped: bool
    semantic: bool  # the vector side took part
    # How many of the set carry each category (kept with the set: every page shows them).
    categories: dict[str, int] = field(default_factory=dict)


_EMPTY_SET = ResultSet(
    np.zeros(0, np.uint64), np.zeros(0), np.zeros(0), {}, {}, capped=False, semantic=False
)

_workers: tuple[int, ThreadPoolExecutor] | None = None
_workers_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """This process's worker threads for vector searches (created after any fork).

    The two halves of a search hand the GIL back and forth around their C
    calls (tantivy, usearch, numpy), and a thread coming back from one waits
    until the other lets go: at most Python's switch interval, 5 ms by
    default, several times per query.  The interval is lowered to
    ``SWITCH_INTERVAL`` (never raised).  At 1M papers that took p95 from 44 to
    31 ms while other processes loaded both cores, and 2-5% off on a quiet
    machine (alternating runs of the same 200 queries).
    """
    global _workers
    pid = os.getpid()
    with _workers_lock:
        if _workers is None or _workers[0] != pid:
            if sys.getswitchinterval() > SWITCH_INTERVAL:
                sys.setswitchinterval(SWITCH_INTERVAL)
            pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="search")
            _workers = (pid, pool)
        return _workers[1]


def _keyword_top(
    view: IndexView,
    parsed: ParsedQuery,
    filters: Filters,
    terms: RankedTerms | None,
    limit: int,
) -> tuple[list[KeywordHit], bool]:
    """The best ``limit`` keyword matches, and whether more papers match.

    One more hit than needed says so without counting every match, which would
    stop the keyword index from skipping documents that cannot make the top.
    """
    hits, _ = view.keyword_top(parsed, filters, terms, limit + 1, count=False)
    return hits[:limit], len(hits) > limit


@dataclass
class _VectorSide:
    """The worker thread's half of a result set: the vector candidates and their BM25.

    The two halves meet twice.  ``query_vector`` resolves as soon as the query
    is encoded, so that the keyword side can fetch its candidates' cosines
    meanwhile; ``keyword_list`` resolves with the keyword side's list and
    whether it was cut short, so that only vector candidates that are off
    that list and could still match get their BM25 looked up.
    """

    engine: SearchEngine
    view: IndexView
    parsed: ParsedQuery
    filters: Filters
    terms: RankedTerms | None  # None: the query has no ranked words
    query_vector: Future[np.ndarray | None] = field(default_factory=Future)
    keyword_list: Future[tuple[list[KeywordHit], bool]] = field(default_factory=Future)

    def run(self) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
        """(keys, cosines, BM25 of those keys that need it and contain a ranked term)."""
        empty = np.zeros(0, np.uint64), np.zeros(0, np.float32), {}
        try:
            qv = self.engine.query_vector(self.view, self.parsed)
        except BaseException as exc:
            self.query_vector.set_exception(exc)
            raise
        self.query_vector.set_result(qv)
        if qv is None:
            return empty
        view, parsed, filters = self.view, self.parsed, self.filters
        exclude = view.key_of(parsed.like) if parsed.like else None
        keys, sims = view.nearest(qv, filters, VECTOR_DEPTH, exclude)
        if len(keys) and (parsed.required or parsed.excluded):
            # Vectors know nothing of phrases, authors or exclusions: check them.
            ok = view.passing(parsed, filters, [int(k) for k in keys])
            keep = np.array([int(x) in ok for x in keys], bool)
            keys, sims = keys[keep], sims[keep]
        bm25: dict[int, float] = {}
        if self.terms is not None and len(keys):
            kw_hits, cut = self.keyword_list.result()
            if cut:  # papers off a complete keyword list have no keyword match
                listed = {h.key for h in kw_hits}
                missing = self.engine._worth_scoring(keys, sims, listed, kw_hits, self.terms)
                if missing:
                    bm25 = view.keyword_scores(parsed, filters, self.terms, missing)
        return keys, sims, bm25


class QueryEncoder:
    """The query encoder, loaded on first use; None answers when it cannot be had."""

    def __init__(self, settings: Settings, encoder: Any | None = None) -> None:
        self.settings = settings
        self._encoder = encoder
        self._failed = False
        self._lock = threading.Lock()

    def encode(self, text: str, model_id: str | None, dim: int | None) -> np.ndarray | None:
        encoder = self._get()
        if encoder is None:
            return None
        if model_id and getattr(encoder, "model_id", None) not in (None, model_id):
            return None  # the index holds another model's vectors
        try:
            qv = np.asarray(encoder.encode_query(text), dtype=np.float32).reshape(-1)
        except Exception as exc:
            log.warning("query encoding failed: %s", exc)
            return None
        return qv if not dim or qv.shape[0] == dim else None

    def _get(self) -> Any | None:
        if self._encoder is None and not self._failed:
            with self._lock:
                if self._encoder is None and not self._failed:
                    try:
                        from .encoder import get_encoder

                        self._encoder = get_encoder(self.settings)
                    except Exception as exc:  # model not installed: keywords still work
                        log.warning("query encoder unavailable: %s", exc)
                        self._failed = True
        return self._encoder


class SearchEngine:
    """Search and similar papers over whatever :class:`IndexView` ``view()`` returns."""

    def __init__(
        self,
        view: Callable[[], IndexView | None],
        encoder: QueryEncoder,
        ranking: Ranking = DEFAULT,
    ) -> None:
        self.view = view
        self.encoder = encoder
        self.ranking = ranking
        self._sets: OrderedDict[tuple, ResultSet] = OrderedDict()
        self._sets_lock = threading.Lock()

    # -- search ----------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        categories: list[str] | None = None,
        since: date | None = None,
        until: date | None = None,
        min_upvotes: int | None = None,
        has_code: bool = False,
        sort: str = "relevance",
        limit: int = 20,
        offset: int = 0,
    ) -> SearchResult:
        """One page of the query's result set; never raises on user input."""
        messages: list[str] = []
        try:
            parsed = parse_query(query)
            messages.extend(parsed.messages)
            filters = self._filters(
                parsed, categories, since, until, min_upvotes, has_code, messages
            )
            return self._search(parsed, filters, sort, limit, offset, messages)
        except Exception:  # a bug must not take the page down: log it, say so
            log.exception("search failed for %r", query)
            return SearchResult(message="search failed; please try a simpler query")

    def _search(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        sort: str,
        limit: int,
        offset: int,
        messages: list[str],
    ) -> SearchResult:
        if sort not in SORTS:
            messages.append(f"unknown sort {clean_text(sort)[:20]!r}; sorted by relevance")
            sort = "relevance"
        limit = max(0, int(limit))
        offset = max(0, int(offset))
        if offset + limit > MAX_DEPTH:
            messages.append(f"results are limited to the first {MAX_DEPTH}")
            offset = min(offset, MAX_DEPTH)
            limit = max(0, MAX_DEPTH - offset)
        view = self.view()
        if view is None:
            messages.append("the search index is not built yet: run `paperwire reindex`")
            return SearchResult(message=_join(messages), ready=False)

        if parsed.direct_id is not None:
            if view.has_paper(parsed.direct_id):
                hits = [Hit(parsed.direct_id, 1.0)][offset : offset + limit]
                return SearchResult(hits=hits, total=1, direct=parsed.direct_id)
            messages.append(f"arXiv:{parsed.direct_id} is not in this catalog")
            return SearchResult(message=_join(messages))

        if not parsed.has_text:
            order = "upvotes" if sort == "upvotes" else "newest"
            keys, total = view.listing(parsed, filters, order, limit, offset)
            ids = view.ids_of(keys[:limit])
            return SearchResult(
                hits=[Hit(pid, 0.0) for pid in ids if pid],
                total=total,
                message=_join(messages),
                categories=view.listing_categories(parsed, filters, total),
            )
        results = self.result_set(parsed, filters, view=view)
        if not results.semantic and view.model_id:
            messages.append("semantic search unavailable; showing keyword matches")
        if parsed.like and view.vector_of(parsed.like) is None:
            messages.append(f"arXiv:{parsed.like} has no embedding yet")
        keys = results.keys
        order = np.arange(len(keys))
        if sort != "relevance" and len(keys):
            primary = view.sort_values(keys, "day" if sort == "newest" else "upvotes")
            # Ties (same day, same votes) stay in relevance order: the keys differ
            # between backends, relevance does not.
            order = np.argsort(-primary, kind="stable")
        page = order[offset : offset + limit]
        page_keys = [int(keys[i]) for i in page]
        ids = view.ids_of(page_keys)
        hits = [
            Hit(
                pid,
                float(results.scores[i]),
                results.keyword_rank.get(key),
                results.vector_rank.get(key),
                None if math.isnan(results.cosines[i]) else float(results.cosines[i]),
            )
            for i, key, pid in zip(page, page_keys, ids, strict=True)
            if pid
        ]
        return SearchResult(
            hits=hits,
            total=len(keys),
            message=_join(messages),
            capped=results.capped,
            categories=dict(results.categories),  # the cached set keeps its own
        )

    @staticmethod
    def _filters(
        parsed: ParsedQuery,
        categories: list[str] | None,
        since: date | None,
        until: date | None,
        min_upvotes: int | None,
        has_code: bool,
        messages: list[str],
    ) -> Filters:
        cats: list[str] = []
        for c in categories or []:
            norm = normalise_category(clean_text(c))
            if norm is None:
                messages.append(f"not a category: {clean_text(c)[:40]!r}")
            else:
                cats.append(norm)
        if since and until and since > until:
            messages.append("the start date is after the end date")
        filters = Filters(
            categories=tuple(cats) if categories else (),
            query_categories=parsed.categories,
            since=since,
            until=until,
            min_upvotes=min_upvotes,
            has_code=bool(has_code),
        )
        if categories and not cats:  # only invalid categories given: nothing can match
            filters = replace(filters, categories=("",))
        return filters

    # -- the result set ----------------------------------------------------------
    def result_set(
        self, parsed: ParsedQuery, filters: Filters, *, view: IndexView | None = None
    ) -> ResultSet:
        """The matching papers of ``parsed`` under ``filters``, best first (cached)."""
        view = view or self.view()
        if view is None:
            return _EMPTY_SET
        cache_key = (view.signature, parsed, filters, self.ranking)
        with self._sets_lock:
            found = self._sets.get(cache_key)
            if found is not None:
                self._sets.move_to_end(cache_key)
                return found
        results = self._compute_set(view, parsed, filters)
        with self._sets_lock:
            self._sets[cache_key] = results
            while len(self._sets) > RESULT_CACHE:
                self._sets.popitem(last=False)
        return results

    def _compute_set(self, view: IndexView, parsed: ParsedQuery, filters: Filters) -> ResultSet:
        terms = view.ranked_terms(parsed) if parsed.terms else RankedTerms()
        ranked = bool(terms.tokens or terms.names)
        use = terms if ranked else None
        # Two threads share the work (tantivy, usearch and PostgreSQL release the
        # GIL while they work): this one lists the keyword candidates and gets
        # their exact cosines; the worker encodes the query, lists the vector
        # candidates and gets the BM25 of those off the keyword list.  Both
        # sides then hold both pieces of evidence for every candidate.
        side = _VectorSide(self, view, parsed, filters, use)
        pending = _executor().submit(side.run)
        cosine: dict[int, float] = {}
        try:
            try:
                if ranked or parsed.required:
                    kw_hits, cut = _keyword_top(view, parsed, filters, use, KEYWORD_DEPTH)
                else:  # like: alone has no keyword side
                    kw_hits, cut = [], False
            except BaseException as exc:
                side.keyword_list.set_exception(exc)
                raise
            side.keyword_list.set_result((kw_hits, cut))
            qv = side.query_vector.result()
            if qv is not None and kw_hits:
                cosine = view.cosines(qv, np.array([h.key for h in kw_hits], np.uint64))
        finally:
            vec_keys, vec_sims, vec_bm25 = pending.result()
        vec_full = len(vec_keys) >= VECTOR_DEPTH
        if not ranked and parsed.required:
            # Only a phrase or title clause: it must match, and meaning ranks.
            allowed = {h.key for h in kw_hits}
            keep = np.array([int(x) in allowed for x in vec_keys], bool)
            vec_keys, vec_sims = vec_keys[keep], vec_sims[keep]

        # (A hit is a (key, score) pair: dicts and arrays are built without a
        # Python-level loop over the thousand-odd candidates.)
        bm25: dict[int, float] = dict(kw_hits)
        keyword_rank = dict(zip(bm25, range(1, len(bm25) + 1), strict=True))
        bm25.update(vec_bm25)  # vector candidates beyond the keyword list: their own BM25
        # The vector side's cosines win where both have one (they are the same
        # numbers in the embedded index; PostgreSQL computes them in one place).
        cosine.update(zip(vec_keys.tolist(), vec_sims.tolist(), strict=True))

        keys = list(dict.fromkeys([*keyword_rank, *vec_keys.tolist()]))
        if parsed.like:
            keys = [k for k in keys if k != view.key_of(parsed.like)]
        if not keys:
            return replace(_EMPTY_SET, semantic=qv is not None)
        key_arr = np.array(keys, np.uint64)
        b = np.fromiter(map(bm25.get, keys, repeat(0.0)), np.float64, len(keys))
        c = np.fromiter(map(cosine.get, keys, repeat(math.nan)), np.float64, len(keys))
        if ranked:
            n_terms = len(terms.tokens) + len(terms.names)
            scores, matches = fuse(b, terms.scale, c, self.ranking, terms=n_terms)
            capped = bool(matches.any()) and self._could_match(
                kw_hits if cut else [], terms, vec_sims, vec_full
            )
        elif parsed.required:  # a phrase or title clause alone decides; meaning helps rank
            top = float(b.max()) if len(b) else 0.0
            scores, _ = fuse(b, top, c, self.ranking.unfloored())
            matches = np.array([k in bm25 for k in keys], bool)
            capped = cut
        else:  # like: alone: the paper's neighbours that are close enough
            scores, matches = fuse(b, 0.0, c, replace(self.ranking, mode="vector"))
            capped = bool(matches.any()) and self._could_match([], terms, vec_sims, vec_full)
        key_arr, scores, c = key_arr[matches], scores[matches], c[matches]
        order = np.lexsort((key_arr, -scores))
        return ResultSet(
            keys=key_arr[order],
            scores=scores[order],
            cosines=c[order],
            keyword_rank=keyword_rank,
            vector_rank=dict(zip(vec_keys.tolist(), range(1, len(vec_keys) + 1), strict=True)),
            capped=capped,
            semantic=qv is not None,
            categories=view.category_counts(key_arr[order]),
        )

    def _worth_scoring(
        self,
        vec_keys: np.ndarray,
        vec_sims: np.ndarray,
        listed: set[int],
        kw_hits: list[KeywordHit],
        terms: RankedTerms,
    ) -> list[int]:
        """Vector candidates off the keyword list whose BM25 could make them match.

        Off the list, a paper's BM25 is at most the last listed one's; a paper
        that would miss the match floor even with that much is left at 0 (it
        misses either way, and cannot decide the query gate: that takes a score
        above the floor, or a keyword share the last listed paper already has).
        """
        off_list = [(int(k), float(c)) for k, c in zip(vec_keys, vec_sims, strict=True)]
        off_list = [(k, c) for k, c in off_list if k not in listed]
        ranking = self.ranking
        if ranking.mode != "hybrid" or not kw_hits:
            return [k for k, _ in off_list]
        share_cut = float(keyword_share(np.array([kw_hits[-1].score]), terms.scale)[0])
        w = ranking.keyword_weight
        return [k for k, c in off_list if w * share_cut + (1 - w) * c >= ranking.match_floor]

    def _could_match(
        self,
        kw_hits: list[KeywordHit],
        terms: RankedTerms,
        vec_sims: np.ndarray,
        vec_full: bool,
    ) -> bool:
        """Whether a paper on neither list could reach the match floor.

        ``kw_hits`` is the keyword list when it was cut short (empty when it is
        complete); ``vec_full`` says the vector list was cut at its depth.
        """
        share_cut = (
            float(keyword_share(np.array([kw_hits[-1].score]), terms.scale)[0]) if kw_hits else None
        )
        cosine_cut = float(vec_sims[-1]) if vec_full and len(vec_sims) else None
        if share_cut is None and cosine_cut is None:
            return False
        return unseen_bound(share_cut, cosine_cut, self.ranking) >= self.ranking.match_floor

    def query_vector(self, view: IndexView, parsed: ParsedQuery) -> np.ndarray | None:
        """The query's vector: its meaning text encoded, plus the ``like:`` paper's vector."""
        if not view.model_id:
            return None
        qv = None
        if parsed.semantic_text:
            qv = self.encoder.encode(parsed.semantic_text, view.model_id, view.dim)
        if parsed.like:
            seed = view.vector_of(parsed.like)
            if seed is not None:
                qv = seed if qv is None else _normalised(qv + seed)
        return qv

    # -- similar -----------------------------------------------------------------
    def similar(self, paper_id: str, limit: int = 10, sort: str = "similarity") -> list[Hit]:
        """Nearest neighbours of a paper by embedding, excluding the paper itself.

        ``sort=newest|upvotes`` re-orders the ``SIMILAR_POOL`` nearest (or
        ``limit``, if more) by date or upvotes: "the newest of the closest".
        """
        try:
            view = self.view()
            if view is None or not view.model_id or limit <= 0:
                return []
            pid = clean_text(paper_id).strip()
            qv = view.vector_of(pid)
            if qv is None:
                return []
            depth = min(int(limit), MAX_DEPTH)
            if sort in ("newest", "upvotes"):
                depth = max(depth, SIMILAR_POOL)
            found, sims = view.nearest(qv, Filters(), depth, view.key_of(pid))
            order = np.arange(len(found))
            if sort in ("newest", "upvotes") and len(found):
                primary = view.sort_values(found, "day" if sort == "newest" else "upvotes")
                order = np.argsort(-primary, kind="stable")  # ties: most similar first
            ids = view.ids_of([int(found[i]) for i in order])
            out = [
                Hit(other, float(sims[i]), vector_rank=int(i) + 1, similarity=float(sims[i]))
                for i, other in zip(order, ids, strict=True)
                if other and other != pid
            ]
            return out[:limit]
        except Exception:
            log.exception("similar failed for %r", paper_id)
            return []


def _normalised(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _join(messages: list[str]) -> str | None:
    unique = list(dict.fromkeys(m for m in messages if m))
    return "; ".join(unique) if unique else None
