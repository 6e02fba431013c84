"""The search API the web layer and the CLI call: hybrid search and similar papers.

A query runs two retrievers at once, BM25 top-100 (tantivy, in the calling
thread) and vector top-100 (query encoding and usearch, in a worker thread).
Their union is ranked by a convex combination of normalised BM25 and cosine
(:mod:`paperwire.search.fusion`).

Filters apply inside both retrievers (tantivy fast fields; a document-table
mask for vectors), so selective filters never empty the top-k.  Sorting by
date or upvotes re-orders the most relevant candidates ("newest among the
relevant"); a query without words lists every match in that order.

Vector search is exact (a float16 scan) over small collections and small
filtered subsets, and HNSW with an exact re-rank otherwise.

This is the embedded implementation (files under ``settings.index_dir``).  A
server mode only needs another class with the same ``search``/``similar``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from .doctable import DocTable, paper_key
from .fusion import Candidates, fuse
from .indexing import State, VectorFiles
from .keyword import Filters, KeywordHit, KeywordIndex
from .query import ParsedQuery, clean_text, normalise_category, parse_query
from .results import Hit, SearchResult
from .vectors import exact_top, load_index
from .vectors import search as hnsw_search

log = logging.getLogger(__name__)

SORTS = ("relevance", "newest", "upvotes")
CANDIDATES = 100  # per retriever, before fusion
POOL = 200  # relevant candidates re-sorted for sort=newest/upvotes
MAX_DEPTH = 1000  # offset + limit
# Up to this many vectors an exact float16 scan takes a few milliseconds and is
# exact; beyond it, HNSW (bench/bench_search_latency.py measures both).
EXACT_MAX = 20_000
# A filtered subset larger than EXACT_MAX is searched by HNSW, over-fetching in
# proportion to the filter's selectivity, up to this many neighbours.
HNSW_OVERFETCH_MAX = 4096

_workers: tuple[int, ThreadPoolExecutor] | None = None
_workers_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """This process's worker threads for keyword searches (created after any fork)."""
    global _workers
    pid = os.getpid()
    with _workers_lock:
        if _workers is None or _workers[0] != pid:
            # One worker per core is enough: each query hands it a single search.
            pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="search")
            _workers = (pid, pool)
        return _workers[1]


@dataclass
class _Snapshot:
    """Everything one generation of the index needs for searching."""

    signature: tuple
    state: State
    keyword: KeywordIndex | None
    table: DocTable
    hnsw: Any | None
    vectors: VectorFiles | None


class SearchService:
    """Searches the embedded indexes; reloads them when ``state.json`` changes."""

    def __init__(self, settings: Settings, encoder: Any | None = None) -> None:
        self.settings = settings
        self.index_dir: Path = settings.index_dir
        self._encoder = encoder
        self._encoder_failed = False
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None

    # -- loading -----------------------------------------------------------
    def _signature(self) -> tuple:
        try:
            st = os.stat(self.index_dir / "state.json")
        except OSError:
            return ()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _snapshot(self) -> _Snapshot | None:
        sig = self._signature()
        snap = self._snap
        if snap is not None and snap.signature == sig:
            return snap
        with self._lock:
            if self._snap is not None and self._snap.signature == sig:
                return self._snap
            self._snap = self._load(sig) if sig else None
            return self._snap

    def _load(self, sig: tuple) -> _Snapshot | None:
        state = State.read(self.index_dir)
        if state is None or not state.keyword or not state.docs:
            return None
        try:
            keyword = KeywordIndex(self.index_dir / state.keyword)
            table = DocTable.load(self.index_dir / state.docs)
            hnsw = files = None
            if state.vectors and state.vector_matrix:
                hnsw = load_index(self.index_dir / state.vectors, view=True)
                files = VectorFiles.load(self.index_dir / state.vector_matrix, mmap=True)
        except (OSError, ValueError) as exc:  # a generation swapped while loading
            log.warning("search index not loadable yet: %s", exc)
            return None
        return _Snapshot(sig, state, keyword, table, hnsw, files)

    def reload(self) -> None:
        """Forget the loaded indexes (the next call reloads them)."""
        with self._lock:
            self._snap = None

    # -- encoder -------------------------------------------------------------
    def _encode(self, text: str, snap: _Snapshot) -> np.ndarray | None:
        if self._encoder is None and not self._encoder_failed:
            try:
                from .encoder import get_encoder

                self._encoder = get_encoder(self.settings)
            except Exception as exc:  # model not installed: keyword search still works
                log.warning("query encoder unavailable: %s", exc)
                self._encoder_failed = True
        if self._encoder is None:
            return None
        if snap.state.model_id and getattr(self._encoder, "model_id", None) not in (
            None,
            snap.state.model_id,
        ):
            return None
        try:
            qv = np.asarray(self._encoder.encode_query(text), dtype=np.float32).reshape(-1)
        except Exception as exc:
            log.warning("query encoding failed: %s", exc)
            return None
        if snap.state.dim and qv.shape[0] != snap.state.dim:
            return None
        return qv

    # -- vector candidates -----------------------------------------------------
    def _vector_candidates(
        self, snap: _Snapshot, qv: np.ndarray, filters: Filters, k: int, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (keys, cosine) that pass ``filters``, best first."""
        files, hnsw, table = snap.vectors, snap.hnsw, snap.table
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
                keys, sims = _exact(files, qv, _filtered_hnsw(snap, qv, mask, allowed, want), want)
        if exclude is not None:
            keep = keys != np.uint64(exclude)
            keys, sims = keys[keep], sims[keep]
        return keys[:k], sims[:k]

    # -- search ----------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        categories: list[str] | None = None,
        since: date | None = None,
        until: date | None = None,
        min_upvotes: int | None = None,
        sort: str = "relevance",
        limit: int = 20,
        offset: int = 0,
    ) -> SearchResult:
        """Hybrid search; never raises on user input (problems go in ``message``)."""
        messages: list[str] = []
        try:
            return self._search(
                query, categories, since, until, min_upvotes, sort, limit, offset, messages
            )
        except Exception:  # a bug must not take the page down: log it, say so
            log.exception("search failed for %r", query)
            return SearchResult(message="search failed; please try a simpler query")

    def _search(
        self,
        query: str,
        categories: list[str] | None,
        since: date | None,
        until: date | None,
        min_upvotes: int | None,
        sort: str,
        limit: int,
        offset: int,
        messages: list[str],
    ) -> SearchResult:
        parsed = parse_query(query)
        messages.extend(parsed.messages)
        if sort not in SORTS:
            messages.append(f"unknown sort {clean_text(sort)[:20]!r}; sorted by relevance")
            sort = "relevance"
        limit = max(0, int(limit))
        offset = max(0, int(offset))
        if offset + limit > MAX_DEPTH:
            messages.append(f"results are limited to the first {MAX_DEPTH}")
            offset = min(offset, MAX_DEPTH)
            limit = max(0, MAX_DEPTH - offset)
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
        )
        if categories and not cats:  # only invalid categories given: nothing can match
            filters = replace(filters, categories=("",))
        snap = self._snapshot()
        if snap is None or snap.keyword is None:
            messages.append("the search index is not built yet: run `paperwire reindex`")
            return SearchResult(message=_join(messages))

        if parsed.direct_id is not None:
            if snap.table.row_of_id(parsed.direct_id) >= 0:
                hits = [Hit(parsed.direct_id, 1.0)][offset : offset + limit]
                return SearchResult(hits=hits, total=1, direct=parsed.direct_id)
            messages.append(f"arXiv:{parsed.direct_id} is not in this catalog")
            return SearchResult(message=_join(messages))

        if not parsed.has_text:
            return self._listing(snap, parsed, filters, sort, limit, offset, messages)
        return self._hybrid(snap, parsed, filters, sort, limit, offset, messages)

    def _listing(
        self,
        snap: _Snapshot,
        parsed: ParsedQuery,
        filters: Filters,
        sort: str,
        limit: int,
        offset: int,
        messages: list[str],
    ) -> SearchResult:
        """No words to rank by: every match, newest first (or by upvotes)."""
        assert snap.keyword is not None
        order = "upvotes" if sort == "upvotes" else "newest"
        tq = snap.keyword.build_query(parsed, filters)
        hits, total = snap.keyword.search(tq, offset + limit, sort=order)
        out = [
            Hit(self._id(snap, h.key), float(h.sort_value or 0), keyword_rank=i + 1)
            for i, h in enumerate(hits[offset : offset + limit], start=offset)
        ]
        return SearchResult(hits=[h for h in out if h.id], total=total, message=_join(messages))

    def _candidates(
        self, snap: _Snapshot, parsed: ParsedQuery, filters: Filters, k: int
    ) -> tuple[Candidates, int, bool]:
        """Both retrievers' top ``k``: (candidates, keyword match count, vectors used)."""
        assert snap.keyword is not None
        keyword = snap.keyword
        tq = keyword.build_query(parsed, filters)
        # The worker encodes and searches vectors while this thread runs tantivy.
        # In this order both really run at once: tantivy releases the GIL as soon
        # as it starts, while usearch's search holds it until it returns, so a
        # keyword search started after a vector search would wait for it.
        pending = _executor().submit(self._vector_side, snap, parsed, filters, k)
        try:
            kw_hits, kw_total = keyword.search(tq, k)
        finally:
            qv, vec_keys, vec_sims = pending.result()
        if len(vec_keys) and (parsed.required or parsed.excluded):
            # Vectors know nothing of phrases, authors or exclusions: check them.
            check = keyword.build_query(
                parsed, filters, ranked=False, restrict_keys=vec_keys.tolist()
            )
            ok = keyword.matching_keys(check, len(vec_keys))
            keep = np.array([int(x) in ok for x in vec_keys], bool)
            vec_keys, vec_sims = vec_keys[keep], vec_sims[keep]
        cosines: dict[int, float] = {}
        if qv is not None and kw_hits:
            assert snap.vectors is not None
            found, sims = _exact(snap.vectors, qv, _keys(kw_hits), len(kw_hits))
            cosines = dict(zip(found.tolist(), sims.tolist(), strict=True))
        candidates = Candidates(
            keyword=[(h.key, h.score) for h in kw_hits],
            keyword_complete=len(kw_hits) < k,
            vector=list(zip(vec_keys.tolist(), vec_sims.tolist(), strict=True)),
            cosines=cosines,
        )
        return candidates, kw_total, qv is not None

    def _vector_side(
        self, snap: _Snapshot, parsed: ParsedQuery, filters: Filters, k: int
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(query vector or None, keys, cosines) of the vector retriever."""
        if snap.vectors is None or not len(snap.vectors.keys):
            return None, np.zeros(0, np.uint64), np.zeros(0, np.float32)
        qv = self._encode(parsed.semantic_text, snap)
        if qv is None:
            return None, np.zeros(0, np.uint64), np.zeros(0, np.float32)
        return qv, *self._vector_candidates(snap, qv, filters, k)

    def _hybrid(
        self,
        snap: _Snapshot,
        parsed: ParsedQuery,
        filters: Filters,
        sort: str,
        limit: int,
        offset: int,
        messages: list[str],
    ) -> SearchResult:
        depth = max(offset + limit, POOL if sort != "relevance" else 0)
        candidates, kw_total, semantic = self._candidates(
            snap, parsed, filters, max(CANDIDATES, depth)
        )
        if not semantic and snap.vectors is not None and len(snap.vectors.keys):
            messages.append("semantic search unavailable; showing keyword matches")
        ranked = fuse(candidates)
        kw_rank = {key: i for i, (key, _) in enumerate(candidates.keyword, start=1)}
        v_rank = {key: i for i, (key, _) in enumerate(candidates.vector, start=1)}
        cosines = {**candidates.cosines, **dict(candidates.vector)}
        total = kw_total + sum(1 for key in v_rank if key not in kw_rank)
        if sort != "relevance":
            ranked = ranked[:depth]
            rows = snap.table.rows_of(np.array([key for key, _ in ranked], np.uint64))
            values = snap.table.day if sort == "newest" else snap.table.upvotes
            sort_vals = [int(values[r]) if r >= 0 else -(2**31) for r in rows]
            order = sorted(range(len(ranked)), key=lambda i: (-sort_vals[i], i))
            ranked = [ranked[i] for i in order]
            total = len(ranked)
        page = ranked[offset : offset + limit]
        ids = self._ids(snap, [key for key, _ in page])
        hits = [
            Hit(pid, score, kw_rank.get(key), v_rank.get(key), cosines.get(key))
            for (key, score), pid in zip(page, ids, strict=True)
            if pid
        ]
        return SearchResult(hits=hits, total=total, message=_join(messages))

    def _ids(self, snap: _Snapshot, keys: list[int]) -> list[str]:
        """Paper ids of ``keys`` ("" where unknown)."""
        rows = snap.table.rows_of(np.array(keys, np.uint64))
        return [
            snap.table.id_at(int(r)) if r >= 0 else self._id(snap, k)
            for k, r in zip(keys, rows, strict=True)
        ]

    def _id(self, snap: _Snapshot, key: int) -> str:
        row = int(snap.table.rows_of(np.array([key], np.uint64))[0])
        if row >= 0:
            return snap.table.id_at(row)
        assert snap.keyword is not None
        return snap.keyword.id_of_key(key) or ""

    # -- similar -----------------------------------------------------------------
    def similar(self, paper_id: str, limit: int = 10) -> list[Hit]:
        """Nearest neighbours of a paper by embedding, excluding the paper itself."""
        try:
            snap = self._snapshot()
            if snap is None or snap.vectors is None or limit <= 0:
                return []
            pid = clean_text(paper_id).strip()
            key = np.uint64(paper_key(pid))
            keys = snap.vectors.keys
            pos = int(np.searchsorted(keys, key))
            if pos >= len(keys) or keys[pos] != key:
                return []
            qv = np.asarray(snap.vectors.matrix[pos], np.float32)
            qv /= max(float(np.linalg.norm(qv)), 1e-12)
            found, sims = self._vector_candidates(
                snap, qv, Filters(), min(int(limit), MAX_DEPTH), exclude=int(key)
            )
            out = []
            for i, (k, s) in enumerate(zip(found, sims, strict=True)):
                other = self._id(snap, int(k))
                if other and other != pid:
                    out.append(Hit(other, float(s), vector_rank=i + 1, similarity=float(s)))
            return out[:limit]
        except Exception:
            log.exception("similar failed for %r", paper_id)
            return []


def _exact(
    files: VectorFiles, qv: np.ndarray, keys: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` of ``keys`` (all vectors when ``None``): (keys, cosines), best first."""
    if keys is None:
        block, block_keys = files.matrix, files.keys
    else:
        keys = np.asarray(keys, np.uint64)
        pos = np.minimum(np.searchsorted(files.keys, keys), max(len(files.keys) - 1, 0))
        ok = files.keys[pos] == keys if len(files.keys) else np.zeros(len(keys), bool)
        pos = np.unique(pos[ok])  # sorted: reads the mapped file front to back
        block, block_keys = files.matrix[pos], files.keys[pos]
    if len(block_keys) == 0 or k <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.float32)
    # A few extra so that ties at the cut break by key, not by scan order.
    rows, sims = exact_top(block, qv, k + 8)
    found = np.asarray(block_keys[rows], np.uint64)
    order = np.lexsort((found, -sims))[:k]
    return found[order], sims[order]


def _filtered_hnsw(
    snap: _Snapshot, qv: np.ndarray, mask: np.ndarray, allowed: int, want: int
) -> np.ndarray:
    """Keys among the HNSW neighbours that pass ``mask``, over-fetching by selectivity.

    The neighbours that pass are the nearest allowed papers (up to HNSW recall);
    when a filter is at odds with the query, fewer than ``want`` may come back
    even at the largest over-fetch, which fusion handles like a short list.
    """
    assert snap.hnsw is not None
    table = snap.table
    over = min(HNSW_OVERFETCH_MAX, max(want, math.ceil(want * len(table) / allowed * 2)))
    while True:
        found, _ = hnsw_search(snap.hnsw, qv, over)
        rows = table.rows_of(found)
        passing = found[(rows >= 0) & mask[np.maximum(rows, 0)]]
        # Half the wanted candidates is plenty for fusion; asking HNSW for more
        # neighbours costs time roughly in proportion.
        if 2 * len(passing) >= want or over >= HNSW_OVERFETCH_MAX or len(found) < over:
            return passing
        over = min(HNSW_OVERFETCH_MAX, over * 4)


def _keys(hits: list[KeywordHit]) -> np.ndarray:
    return np.array([h.key for h in hits], np.uint64)


def _join(messages: list[str]) -> str | None:
    unique = list(dict.fromkeys(m for m in messages if m))
    return "; ".join(unique) if unique else None
