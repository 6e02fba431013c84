"""The embedded search backend's view of its index files, and the service over it.

:class:`EmbeddedView` answers :class:`~paperwire.search.engine.IndexView`'s
questions from one generation of the files under ``settings.index_dir``:
tantivy for keywords (BM25, filters and sorts on fast fields), usearch for
vectors, and the document table for filtering and naming vector hits without a
database round trip.  :class:`SearchService` reloads the view when
``state.json`` changes and hands it to the shared
:class:`~paperwire.search.engine.SearchEngine`, which owns every rule.

Vector search is exact (a float16 scan) over small collections and small
filtered subsets, and HNSW with an exact re-rank otherwise.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from .doctable import DocTable, paper_key
from .engine import IndexView, QueryEncoder, ResultSet, SearchEngine
from .fusion import DEFAULT, Ranking
from .indexing import State, VectorFiles
from .keyword import Filters, KeywordHit, KeywordIndex, RankedTerms
from .query import ParsedQuery
from .results import Hit, SearchResult
from .vectors import CODE_RERANK, exact_top, load_index, nearest_by_code
from .vectors import search as hnsw_search

log = logging.getLogger(__name__)

# Up to this many vectors an exact float16 scan takes a few milliseconds and is
# exact; beyond it, HNSW (bench/bench_search_latency.py measures both).
EXACT_MAX = 20_000
# A filtered subset larger than EXACT_MAX and at most this share of the vectors
# is searched by binary codes (``vectors.nearest_by_code``); a larger one by HNSW,
# over-fetching in proportion to the filter's selectivity, up to
# HNSW_OVERFETCH_MAX neighbours (the codes' cost grows with the subset, HNSW's
# as the subset shrinks; they cross near a third at 1M papers).
CODE_SCAN_SHARE = 0.3
HNSW_OVERFETCH_MAX = 4096
LISTING_FACETS_MAX = 20_000  # matches whose categories a listing counts


@dataclass
class EmbeddedView:
    """One generation of the embedded index, as :class:`IndexView`."""

    signature: tuple
    state: State
    keyword: KeywordIndex
    table: DocTable
    hnsw: Any | None
    vectors: VectorFiles | None
    _same_keys: bool | None = field(default=None, repr=False)  # vector and table keys agree

    @property
    def model_id(self) -> str | None:
        return self.state.model_id if self.vectors is not None and len(self.vectors.keys) else None

    @property
    def dim(self) -> int | None:
        return self.state.dim

    def has_paper(self, paper_id: str) -> bool:
        return self.table.row_of_id(paper_id) >= 0

    def key_of(self, paper_id: str) -> int:
        return paper_key(paper_id)

    # -- keywords ------------------------------------------------------------
    def ranked_terms(self, parsed: ParsedQuery) -> RankedTerms:
        return self.keyword.ranked_terms(parsed)

    def keyword_top(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        terms: RankedTerms | None,
        limit: int,
        *,
        count: bool = True,
    ) -> tuple[list[KeywordHit], int]:
        if not count:
            return self.keyword.top(parsed, filters, terms, limit), 0
        tq = self.keyword.build_query(parsed, filters, terms=terms)
        return self.keyword.search(tq, limit, count=count)

    def keyword_scores(
        self, parsed: ParsedQuery, filters: Filters, terms: RankedTerms, keys: list[int]
    ) -> dict[int, float]:
        if not terms.common or parsed.required:
            return self._scores_among(parsed, filters, terms, keys)
        # A paper with nothing but common words is no keyword match.  Every word
        # is scored at once; a paper above ``common_bound`` has a matching word,
        # and only those at or below it are asked again, for the matching words.
        everything = replace(terms, common=())
        scores = self._scores_among(parsed, filters, everything, keys, True)
        unsure = [k for k, score in scores.items() if not terms.proves_a_match(score)]
        if unsure:
            matching = replace(terms, tokens=terms.matching, common=())
            matched = self._scores_among(parsed, filters, matching, unsure, True)
            for key in unsure:
                if key not in matched:
                    del scores[key]
        return scores

    def _scores_among(
        self,
        parsed: ParsedQuery,
        filters: Filters,
        terms: RankedTerms,
        keys: list[int],
        matched_only: bool = False,
    ) -> dict[int, float]:
        """BM25 of ``terms`` for those of ``keys`` that pass (0 where no term occurs)."""
        tq = self.keyword.build_query(parsed, filters, terms=terms, restrict_keys=keys)
        hits, _ = self.keyword.search(tq, len(keys), count=False)
        return {h.key: h.score for h in hits if h.score > 0 or not matched_only}

    def passing(self, parsed: ParsedQuery, filters: Filters, keys: list[int]) -> set[int]:
        tq = self.keyword.build_query(parsed, filters, restrict_keys=keys)
        return self.keyword.matching_keys(tq, len(keys))

    def listing(
        self, parsed: ParsedQuery, filters: Filters, order: str, limit: int, offset: int
    ) -> tuple[list[int], int]:
        tq = self.keyword.build_query(parsed, filters)
        return self.keyword.sorted_keys(tq, limit, order=order, offset=offset)

    def listing_categories(
        self, parsed: ParsedQuery, filters: Filters, total: int
    ) -> dict[str, int]:
        table = self.table
        if not (parsed.required or parsed.excluded):  # filters alone: the table knows
            mask = table.mask(filters)
            rows = np.arange(len(table)) if mask is None else np.nonzero(mask)[0]
            return table.category_counts(rows)
        if total > LISTING_FACETS_MAX:  # counting would cost more than the page itself
            return {}
        tq = self.keyword.build_query(parsed, filters)
        hits, _ = self.keyword.search(tq, total, count=False)
        return table.category_counts(table.rows_of(np.array([h.key for h in hits], np.uint64)))

    # -- vectors -------------------------------------------------------------
    def nearest(
        self, qv: np.ndarray, filters: Filters, k: int, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        files, hnsw, table = self.vectors, self.hnsw, self.table
        empty = np.zeros(0, np.uint64), np.zeros(0, np.float32)
        if files is None or len(files.keys) == 0:
            return empty
        want = k + (1 if exclude is not None else 0)
        mask = table.mask(filters)
        if mask is None:
            if hnsw is None or len(files.keys) <= EXACT_MAX:
                keys, sims = _exact(files, qv, None, want)
            else:
                found, _ = hnsw_search(hnsw, qv, max(want, 50))
                keys, sims = _exact(files, qv, found, want)
        else:
            allowed = int(mask.sum())
            if allowed == 0:
                return empty
            if hnsw is None or allowed <= EXACT_MAX:
                keys, sims = _exact(files, qv, table.keys[mask], want)
            else:
                keys, sims = self._filtered(qv, mask, allowed, want)
        if exclude is not None:
            keep = keys != np.uint64(exclude)
            keys, sims = keys[keep], sims[keep]
        return keys[:k], sims[:k]

    def cosines(self, qv: np.ndarray, keys: np.ndarray) -> dict[int, float]:
        if self.vectors is None:
            return {}
        found, sims = _exact(self.vectors, qv, keys, len(keys))
        return dict(zip(found.tolist(), sims.tolist(), strict=True))

    def vector_of(self, paper_id: str) -> np.ndarray | None:
        if self.vectors is None:
            return None
        key = np.uint64(paper_key(paper_id))
        keys = self.vectors.keys
        pos = int(np.searchsorted(keys, key))
        if pos >= len(keys) or keys[pos] != key:
            return None
        qv = np.asarray(self.vectors.matrix[pos], np.float32)
        return qv / max(float(np.linalg.norm(qv)), 1e-12)

    def _vector_positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in the vector files of the papers at table ``rows`` that have one.

        Both are sorted by key, so when every paper has a vector they coincide.
        """
        assert self.vectors is not None
        vkeys, tkeys = self.vectors.keys, self.table.keys
        if self._same_keys is None:
            self._same_keys = len(vkeys) == len(tkeys) and bool(np.array_equal(vkeys, tkeys))
        if self._same_keys:
            return rows
        return _positions(vkeys, tkeys[rows])

    def _filtered(
        self, qv: np.ndarray, mask: np.ndarray, allowed: int, want: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The nearest ``want`` papers that pass ``mask`` (more than EXACT_MAX do).

        A selective filter is answered by the binary codes.  Otherwise HNSW is
        asked for neighbours, over-fetching by selectivity, and those that pass
        are the nearest allowed papers (up to HNSW recall).  When most of them
        fail the filter (it is at odds with the query), the codes answer after
        all: asking HNSW for four times as many costs more than the scan.
        """
        files = self.vectors
        assert files is not None and self.hnsw is not None
        if files.codes is not None and allowed <= CODE_SCAN_SHARE * len(files.keys):
            return self._by_codes(qv, mask, want)
        table = self.table
        over = min(HNSW_OVERFETCH_MAX, max(want, math.ceil(want * len(table) / allowed * 2)))
        while True:
            found, _ = hnsw_search(self.hnsw, qv, over)
            rows = table.rows_of(found)
            passing = found[(rows >= 0) & mask[np.maximum(rows, 0)]]
            # Half the wanted candidates is plenty for fusion.
            if 2 * len(passing) >= want or len(found) < over:
                return _exact(files, qv, passing, want)
            if files.codes is not None:
                return self._by_codes(qv, mask, want)
            if over >= HNSW_OVERFETCH_MAX:
                return _exact(files, qv, passing, want)
            over = min(HNSW_OVERFETCH_MAX, over * 4)

    def _by_codes(
        self, qv: np.ndarray, mask: np.ndarray, want: int
    ) -> tuple[np.ndarray, np.ndarray]:
        files = self.vectors
        assert files is not None and files.codes is not None and files.center is not None
        positions = self._vector_positions(np.flatnonzero(mask))
        near = nearest_by_code(files.codes, files.center, positions, qv, CODE_RERANK * want)
        return _exact_at(files, qv, near, want)

    # -- papers --------------------------------------------------------------
    def sort_values(self, keys: np.ndarray, by: str) -> np.ndarray:
        rows = self.table.rows_of(keys)
        values = self.table.day if by == "day" else self.table.upvotes
        return np.where(rows >= 0, values[np.maximum(rows, 0)], -(2**31)).astype(np.int64)

    def category_counts(self, keys: np.ndarray) -> dict[str, int]:
        return self.table.category_counts(self.table.rows_of(keys))

    def ids_of(self, keys: list[int]) -> list[str]:
        rows = self.table.rows_of(np.array(keys, np.uint64))
        return [
            self.table.id_at(int(r)) if r >= 0 else (self.keyword.id_of_key(k) or "")
            for k, r in zip(keys, rows, strict=True)
        ]


class SearchService:
    """The embedded backend's searches: loads views of the index files as they change."""

    def __init__(
        self, settings: Settings, encoder: Any | None = None, ranking: Ranking = DEFAULT
    ) -> None:
        self.settings = settings
        self.index_dir: Path = settings.index_dir
        self._lock = threading.Lock()
        self._view: EmbeddedView | None = None
        self.engine = SearchEngine(self._snapshot, QueryEncoder(settings, encoder), ranking)

    @property
    def ranking(self) -> Ranking:
        return self.engine.ranking

    def search(self, query: str, **kwargs: Any) -> SearchResult:
        return self.engine.search(query, **kwargs)

    def similar(self, paper_id: str, limit: int = 10, sort: str = "similarity") -> list[Hit]:
        return self.engine.similar(paper_id, limit=limit, sort=sort)

    def result_set(self, parsed: ParsedQuery, filters: Filters) -> ResultSet:
        return self.engine.result_set(parsed, filters)

    # -- loading -----------------------------------------------------------
    def _signature(self) -> tuple:
        try:
            st = os.stat(self.index_dir / "state.json")
        except OSError:
            return ()
        return (str(self.index_dir), st.st_ino, st.st_mtime_ns, st.st_size)

    def _snapshot(self) -> IndexView | None:
        sig = self._signature()
        view = self._view
        if view is not None and view.signature == sig:
            return view
        with self._lock:
            if self._view is not None and self._view.signature == sig:
                return self._view
            self._view = self._load(sig) if sig else None
            return self._view

    def _load(self, sig: tuple) -> EmbeddedView | None:
        state = State.read(self.index_dir)
        if state is None or not state.keyword or not state.docs:
            return None
        try:
            keyword = KeywordIndex(self.index_dir / state.keyword, snapshot=True)
            table = DocTable.load(self.index_dir / state.docs)
            hnsw = files = None
            if state.vectors and state.vector_matrix:
                hnsw = load_index(self.index_dir / state.vectors, view=True)
                # (A file written before binary codes existed gets them here, once.)
                files = VectorFiles.load(self.index_dir / state.vector_matrix).with_codes()
        except (OSError, ValueError, KeyError) as exc:  # a generation swapped while loading
            log.warning("search index not loadable yet: %s", exc)
            return None
        return EmbeddedView(sig, state, keyword, table, hnsw, files)

    def reload(self) -> None:
        """Forget the loaded indexes (the next call reloads them)."""
        with self._lock:
            self._view = None


def _exact(
    files: VectorFiles, qv: np.ndarray, keys: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` of ``keys`` (all vectors when ``None``): (keys, cosines), best first."""
    if keys is None:
        return _exact_block(files.matrix, files.keys, qv, k)
    return _exact_at(files, qv, _positions(files.keys, np.asarray(keys, np.uint64)), k)


def _positions(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Positions in ``sorted_keys`` of those of ``keys`` it holds."""
    if len(sorted_keys) == 0:
        return np.zeros(0, np.int64)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return pos[sorted_keys[pos] == keys]


def _exact_at(
    files: VectorFiles, qv: np.ndarray, positions: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` of the vectors at ``positions``: (keys, cosines), best first."""
    pos = np.unique(positions)  # sorted: reads the mapped file front to back
    return _exact_block(files.matrix[pos], files.keys[pos], qv, k)


def _exact_block(
    block: np.ndarray, block_keys: np.ndarray, qv: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    if len(block_keys) == 0 or k <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.float32)
    # A few extra so that ties at the cut break by key, not by scan order.
    rows, sims = exact_top(block, qv, k + 8)
    found = np.asarray(block_keys[rows], np.uint64)
    order = np.lexsort((found, -sims))[:k]
    return found[order], sims[order]
