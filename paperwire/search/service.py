"""The search API the web layer and the CLI call: hybrid search and similar papers.

Hybrid ranking is weighted reciprocal rank fusion (RRF): each paper scores
``w_kw / (k + rank_kw) + w_vec / (k + rank_vec)`` over the top-100 keyword
(BM25) and top-100 vector (cosine) candidates.  RRF needs no calibration
between BM25 scores and cosines; k and the weights were chosen by grid search
on a tuning split of known-item queries in ``bench/bench_relevance.py`` and
are reported on a disjoint split and on hand-judged queries.

Filters apply inside both candidate generators (tantivy fast fields; a
document-table mask for vectors), so selective filters never empty the top-k.
Sorting by date or upvotes re-orders the most relevant candidates ("newest
among the relevant"); a query without words lists every match in that order.

This is the embedded implementation (files under ``settings.index_dir``).  A
server mode only needs another class with the same ``search``/``similar``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from .doctable import DocTable, paper_key
from .indexing import State, VectorFiles
from .keyword import Filters, KeywordIndex
from .query import ParsedQuery, clean_text, normalise_category, parse_query
from .vectors import load_index
from .vectors import search as hnsw_search

log = logging.getLogger(__name__)

SORTS = ("relevance", "newest", "upvotes")
# Tuned by grid search on the known-item tuning split of bench/bench_relevance.py
# (k in 5..100, vector weight in 0.5..3); the usual k=60, w=1 ranks verbatim
# queries worse and is shown next to it in that benchmark's table.
RRF_K = 5.0
KEYWORD_WEIGHT = 1.0
VECTOR_WEIGHT = 0.5
CANDIDATES = 100  # per system, before fusion
POOL = 200  # relevant candidates re-sorted for sort=newest/upvotes
MAX_DEPTH = 1000  # offset + limit
EXACT_FILTER_MAX = 30_000  # filtered vector search scans exactly below this many papers
HNSW_OVERFETCH_MAX = 4096


@dataclass(frozen=True)
class Hit:
    """One result: the web layer fetches the paper row by ``id``."""

    id: str
    score: float
    keyword_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None


@dataclass
class SearchResult:
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    message: str | None = None
    direct: str | None = None


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
        """Top ``k`` (keys, cosine) that pass ``filters``, exact-re-ranked."""
        files, hnsw, table = snap.vectors, snap.hnsw, snap.table
        if files is None or hnsw is None or len(files.keys) == 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.float32)
        mask = table.mask(filters)
        want = k + (1 if exclude is not None else 0)
        if mask is None:
            keys, _ = hnsw_search(hnsw, qv, max(want, 50))
        else:
            allowed = int(mask.sum())
            if allowed == 0:
                return np.zeros(0, np.uint64), np.zeros(0, np.float32)
            keys = np.zeros(0, np.uint64)
            if allowed > EXACT_FILTER_MAX:
                over = min(HNSW_OVERFETCH_MAX, math.ceil(max(want, 50) * len(table) / allowed * 2))
                keys, _ = hnsw_search(hnsw, qv, over)
                rows = table.rows_of(keys)
                keys = keys[(rows >= 0) & mask[np.maximum(rows, 0)]]
            if len(keys) < want:  # selective filter: exact scan over the allowed papers
                keys = table.keys[mask]
        keys, sims = _exact(files, qv, keys, want)
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
                return SearchResult(
                    hits=[Hit(parsed.direct_id, 1.0)], total=1, direct=parsed.direct_id
                )
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
        assert snap.keyword is not None
        depth = max(offset + limit, POOL if sort != "relevance" else 0)
        k = max(CANDIDATES, depth)
        tq = snap.keyword.build_query(parsed, filters)
        kw_hits, kw_total = snap.keyword.search(tq, k)
        vec_keys = np.zeros(0, np.uint64)
        vec_sims = np.zeros(0, np.float32)
        if snap.vectors is not None and len(snap.vectors.keys):
            qv = self._encode(parsed.semantic_text, snap)
            if qv is None:
                messages.append("semantic search unavailable; showing keyword matches")
            else:
                vec_keys, vec_sims = self._vector_candidates(snap, qv, filters, k)
                if len(vec_keys) and (parsed.required or parsed.excluded):
                    check = snap.keyword.build_query(
                        parsed, filters, ranked=False, restrict_keys=vec_keys.tolist()
                    )
                    ok = snap.keyword.matching_keys(check, len(vec_keys))
                    keep = np.array([int(x) in ok for x in vec_keys], bool)
                    vec_keys, vec_sims = vec_keys[keep], vec_sims[keep]
        unembedded: set[int] = set()
        if len(vec_keys) and snap.vectors is not None:
            # Papers not embedded yet: impute the vector rank from the keyword rank,
            # so a fresh import is not ranked below papers that have vectors.
            kw_keys = np.array([h.key for h in kw_hits], np.uint64)
            pos = np.minimum(
                np.searchsorted(snap.vectors.keys, kw_keys), len(snap.vectors.keys) - 1
            )
            unembedded = {int(k) for k in kw_keys[snap.vectors.keys[pos] != kw_keys]}
        fused = fuse(
            [h.key for h in kw_hits],
            [int(x) for x in vec_keys],
            keyword_weight=KEYWORD_WEIGHT,
            vector_weight=VECTOR_WEIGHT,
            k=RRF_K,
            unembedded=unembedded,
        )
        kw_rank = {h.key: i + 1 for i, h in enumerate(kw_hits)}
        v_rank = {int(x): i + 1 for i, x in enumerate(vec_keys)}
        v_sim = {int(x): float(s) for x, s in zip(vec_keys, vec_sims, strict=True)}
        vector_only = sum(1 for key in v_rank if key not in kw_rank)
        total = kw_total + vector_only
        ranked = fused
        if sort != "relevance":
            ranked = fused[:depth]
            rows = snap.table.rows_of(np.array([key for key, _ in ranked], np.uint64))
            values = snap.table.day if sort == "newest" else snap.table.upvotes
            sort_vals = [int(values[r]) if r >= 0 else -(2**31) for r in rows]
            order = sorted(range(len(ranked)), key=lambda i: (-sort_vals[i], i))
            ranked = [ranked[i] for i in order]
            total = len(ranked)
        page = ranked[offset : offset + limit]
        hits = []
        for key, score in page:
            pid = self._id(snap, key)
            if pid:
                hits.append(Hit(pid, score, kw_rank.get(key), v_rank.get(key), v_sim.get(key)))
        return SearchResult(hits=hits, total=total, message=_join(messages))

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
    files: VectorFiles, qv: np.ndarray, keys: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine for ``keys`` from the float16 matrix; top ``k`` in order."""
    keys = np.asarray(keys, np.uint64)
    if len(keys) == 0:
        return keys, np.zeros(0, np.float32)
    pos = np.searchsorted(files.keys, keys)
    pos = np.minimum(pos, len(files.keys) - 1)
    ok = files.keys[pos] == keys
    keys, pos = keys[ok], pos[ok]
    if len(keys) == 0:
        return keys, np.zeros(0, np.float32)
    sims = np.empty(len(pos), np.float32)
    step = 65536
    for i in range(0, len(pos), step):
        block = np.asarray(files.matrix[np.sort(pos[i : i + step])], np.float32)
        # rows were sorted for locality: undo the permutation
        order = np.argsort(pos[i : i + step], kind="stable")
        sims[i : i + step][order] = block @ qv
    k = min(k, len(keys))
    top = np.argpartition(-sims, k - 1)[:k] if k < len(keys) else np.arange(len(keys))
    top = top[np.argsort(-sims[top], kind="stable")]
    return keys[top], sims[top]


def fuse(
    keyword_keys: list[int],
    vector_keys: list[int],
    *,
    keyword_weight: float = KEYWORD_WEIGHT,
    vector_weight: float = VECTOR_WEIGHT,
    k: float = RRF_K,
    unembedded: set[int] | frozenset[int] = frozenset(),
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of two ranked key lists, best first.

    Keys in ``unembedded`` (no vector yet) get their keyword rank as vector rank.
    """
    scores: dict[int, float] = {}
    for rank, key in enumerate(keyword_keys, start=1):
        scores[key] = scores.get(key, 0.0) + keyword_weight / (k + rank)
        if key in unembedded:
            scores[key] += vector_weight / (k + rank)
    for rank, key in enumerate(vector_keys, start=1):
        scores[key] = scores.get(key, 0.0) + vector_weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def _join(messages: list[str]) -> str | None:
    unique = list(dict.fromkeys(m for m in messages if m))
    return "; ".join(unique) if unique else None


_services: dict[tuple[str, str], SearchService] = {}
_services_lock = threading.Lock()


def get_search_service(settings: Settings) -> SearchService:
    """The process-wide service for ``settings`` (indexes reload when they change)."""
    key = (str(settings.index_dir), settings.database_url)
    with _services_lock:
        service = _services.get(key)
        if service is None:
            service = _services[key] = SearchService(settings)
        return service
