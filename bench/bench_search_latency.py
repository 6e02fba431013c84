"""Hybrid search latency, ANN recall and index size at 80k (real) and 1M papers.

    .venv/bin/python bench/embed_corpus.py                 # once: the 80k real vectors
    .venv/bin/python bench/bench_search_latency.py         # sizes 80000 and 1000000
    .venv/bin/python bench/bench_search_latency.py --sizes 80000 --queries 200

What is measured, per corpus size, with the production code paths
(``indexing.build_generation`` builds the files; ``SearchService`` answers
through its ``SearchEngine`` over an ``EmbeddedView``):

- hybrid query latency p50/p95 of ``SearchService.search`` (the whole result
  set: keyword top-``KEYWORD_DEPTH`` and the cosines of those candidates on
  the calling thread, vector top-``VECTOR_DEPTH`` and the BM25 of those off
  the keyword list on the engine's worker thread, fusion, floors, the page)
  without query encoding (query vectors precomputed) and with it (the
  project's ONNX encoder, in the timed call), with a warm page cache (every
  query has run once; that first pass over freshly loaded index files is
  reported too), and with a category + upvote filter.  The engine's result-set
  cache is cleared before each timed query, so every call computes its set;
- the size of the result sets: mean and median total per query, the share
  that is capped (more papers would match than the retrievers list) and the
  share that matches nothing (the fusion floors), unfiltered and filtered;
- the parts, asked through the ``IndexView`` as the engine asks them: keyword
  top-``SHALLOW`` and top-``KEYWORD_DEPTH`` (tantivy BM25F, with the query's
  ranked terms), vector top-``VECTOR_DEPTH`` (HNSW + exact float16 re-rank) unfiltered
  and filtered, encoding alone;
- baseline in the same run: exact brute force, i.e. a numpy dot product over
  all vectors (float32, held in memory) plus an exhaustive BM25 keyword scan
  (SQLite FTS5, which scores every matching row), fused with the same
  ``fusion.fuse`` (timed only: FTS5's BM25 is on another scale than tantivy's,
  see the comment in :func:`probe`);
- recall@10 of the vector path (and of raw HNSW) against exact search,
  recall@``VECTOR_DEPTH`` of the whole vector candidate list, the recall /
  latency trade-off of HNSW's ``expansion_search``, and overlap@10 of the
  hybrid results against the same engine over a view whose vector retriever
  is exact (same tantivy keyword candidates, same fusion and floors);
- index sizes on disk and resident memory (RSS) of a fresh process that loads
  the service and runs the queries.

The 1M corpus: the 79,990 real papers (and their real MiniLM vectors from
``.cache/embeddings/arxiv-cs-2025-2026.npz``) plus synthetic papers.  Each
synthetic paper has two real parents A and B (seeded RNG): its title is the
first half of A's title words + the second half of B's; its abstract is A's
first sentences followed by B's last sentences (about as long as a real
one); authors and categories are A's; its day is A's plus up to ±60 days;
upvotes are geometric (p=0.3) minus one.  Its vector is
``normalise(0.7·v_A + 0.3·v_B + ε)`` with ε ~ N(0, 0.03²) per dimension, so
the synthetic vectors lie near the real data manifold rather than being
uniform noise (which would make HNSW look worse and BM25 look better than real
data would).  Queries are 2-5 consecutive words from the titles of random
real papers (seed 1) that neither start nor end with a stopword, the way people
type half-remembered titles.

Numbers depend on the machine: the script prints the load average next to
them, because on a shared 2-core box other processes inflate the tails.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paperwire.search import vectors as _vectors  # noqa: E402  (loads onnxruntime first)

CORPUS = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
EMBEDDINGS = ROOT / ".cache" / "embeddings" / "arxiv-cs-2025-2026.npz"
MODEL_DIR = ROOT / ".cache" / "models"
OUT = ROOT / "bench" / "out" / "latency"
SHALLOW = 100  # the keyword part is also timed this deep, to show what depth costs
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


# -- corpus ------------------------------------------------------------------------
def load_corpus(limit: int | None = None) -> list[dict]:
    """The shared corpus as catalog-shaped rows, cleaned by Paperwire's own reader."""
    from paperwire.sources import open_source

    rows = []
    _, stream, _ = open_source(CORPUS)
    for rec in stream:
        if not hasattr(rec, "id"):
            continue
        rows.append(
            {
                "id": rec.id,
                "title": rec.title or rec.id,
                "abstract": rec.abstract or "",
                "authors": list(rec.authors or []),
                "categories": list(rec.categories or []),
                "listed_on": rec.listed_on,
                "submitted": rec.submitted,
                "upvotes": 0,
            }
        )
        if limit and len(rows) >= limit:
            break
    return rows


def load_vectors(rows: list[dict]) -> tuple[np.ndarray, int]:
    """Vectors for ``rows`` (float32, L2-normalised) and how many of them are real.

    Reads the merged file of ``bench/embed_corpus.py`` or, while it is still
    running, the chunks it has finished.  Papers without a real vector yet get
    one made like the synthetic papers' (a mix of two real vectors plus noise),
    and the table reports how many vectors were real.
    """
    from paperwire.search.embeddings import read_embeddings_file

    if EMBEDDINGS.exists():
        parts = [read_embeddings_file(EMBEDDINGS)]
    else:
        chunks = sorted((EMBEDDINGS.parent / EMBEDDINGS.stem).glob("chunk-*.npz"))
        if not chunks:
            sys.exit(f"{EMBEDDINGS} missing: run .venv/bin/python bench/embed_corpus.py first")
        parts = [read_embeddings_file(c) for c in chunks]
    pos: dict[str, tuple[int, int]] = {}
    for pi, part in enumerate(parts):
        for i, pid in enumerate(part.ids):
            pos[str(pid)] = (pi, i)
    have = [j for j, r in enumerate(rows) if r["id"] in pos]
    matrix = np.empty((len(rows), np.asarray(parts[0].vectors).shape[1]), np.float32)
    for j in have:
        pi, i = pos[rows[j]["id"]]
        matrix[j] = parts[pi].vectors[i]
    real = matrix[have]
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    matrix[have] = real
    missing = sorted(set(range(len(rows))) - set(have))
    if missing:
        matrix[missing] = synthetic_vectors(real, len(missing), seed=7)
    return matrix, len(have)


def synthetic_rows(real: list[dict], n_extra: int, seed: int = 42) -> Iterator[dict]:
    """Recombined papers (see the module docstring); deterministic for a seed."""
    rng = random.Random(seed)
    sentences = [_SENT.split(r["abstract"]) for r in real]
    for j in range(n_extra):
        a, b = rng.randrange(len(real)), rng.randrange(len(real))
        ra, rb = real[a], real[b]
        ta, tb = ra["title"].split(), rb["title"].split()
        title = " ".join(ta[: max(1, len(ta) // 2)] + tb[len(tb) // 2 :])
        sa, sb = sentences[a], sentences[b]
        ka = max(1, len(sa) // 2)
        abstract = " ".join(sa[:ka] + sb[len(sb) - max(1, len(sb) - len(sb) // 2) :])
        day = (ra["listed_on"] or date(2025, 6, 1)) + timedelta(days=rng.randint(-60, 60))
        yield {
            "id": f"syn{j:07d}",
            "title": title,
            "abstract": abstract,
            "authors": ra["authors"],
            "categories": ra["categories"],
            "listed_on": day,
            "submitted": None,
            "upvotes": min(int(np.log(1 - rng.random()) / np.log(0.7)), 10_000),
            "_parents": (a, b),
        }


def synthetic_vectors(base: np.ndarray, n_extra: int, seed: int = 42) -> np.ndarray:
    """Vectors for :func:`synthetic_rows` (same parents: the same RNG sequence)."""
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    parents = np.zeros((n_extra, 2), np.int64)
    for j in range(n_extra):
        parents[j] = (rng.randrange(len(base)), rng.randrange(len(base)))
        rng.randint(-60, 60)
        rng.random()
    out = np.empty((n_extra, base.shape[1]), np.float32)
    step = 50_000
    for i in range(0, n_extra, step):
        p = parents[i : i + step]
        block = 0.7 * base[p[:, 0]] + 0.3 * base[p[:, 1]]
        block += noise_rng.normal(0, 0.03, block.shape).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[i : i + step] = block
    return out


def make_queries(real: list[dict], n: int, seed: int = 1) -> list[str]:
    from paperwire.search.keyword import STOPWORDS

    rng = random.Random(seed)
    out = []
    while len(out) < n:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]+", rng.choice(real)["title"])]
        if len(words) < 2:
            continue
        k = rng.randint(2, min(5, len(words)))
        start = rng.randrange(0, len(words) - k + 1)
        span = words[start : start + k]
        if span[0].lower() in STOPWORDS or span[-1].lower() in STOPWORDS:
            continue  # nobody types "System for" or "the Era"
        out.append(" ".join(span))
    return out


# -- building ------------------------------------------------------------------------
def build(index_root: Path, real: list[dict], base: np.ndarray, size: int) -> dict:
    """Index files for ``size`` papers under ``index_root/home/index``; FTS5 beside them."""
    from paperwire.search.encoder import MODEL_ID
    from paperwire.search.indexing import build_generation

    n_extra = max(0, size - len(real))
    real = real[:size]
    home = index_root / "home"
    if index_root.exists():
        shutil.rmtree(index_root)
    index_dir = home / "index"
    index_dir.mkdir(parents=True)

    def rows() -> Iterator[dict]:
        yield from real
        yield from synthetic_rows(real, n_extra)

    def vectors() -> tuple[list[str], np.ndarray]:
        ids = [r["id"] for r in real] + [f"syn{j:07d}" for j in range(n_extra)]
        extra = synthetic_vectors(base[: len(real)], n_extra)
        return ids, np.concatenate([base[: len(real)], extra])

    stage_t: dict[str, float] = {}
    last = {"t": time.perf_counter(), "stage": None}

    def progress(stage: str, done: int, total: int) -> None:
        if last["stage"] != stage:
            last["stage"], last["t"] = stage, time.perf_counter()
        stage_t[stage] = time.perf_counter() - last["t"]
        if done == total or done % 100_000 == 0:
            print(f"  {stage}: {done}/{total} ({stage_t[stage]:.0f}s)", file=sys.stderr)

    t0 = time.perf_counter()
    state = build_generation(
        index_dir,
        1,
        rows(),
        total=size,
        vectors=vectors,
        model_id=MODEL_ID,
        progress=progress,
        threads=2,
    )
    state.write(index_dir)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fts = index_root / "fts5.sqlite"
    con = sqlite3.connect(fts)
    con.execute(
        "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, abstract, authors,"
        " tokenize='porter unicode61')"
    )
    batch = []
    for r in rows():
        batch.append((r["id"], r["title"], r["abstract"], " ".join(r["authors"])))
        if len(batch) == 10_000:
            con.executemany("INSERT INTO docs VALUES (?,?,?,?)", batch)
            batch = []
    con.executemany("INSERT INTO docs VALUES (?,?,?,?)", batch)
    con.commit()
    con.execute("INSERT INTO docs(docs) VALUES('optimize')")
    con.commit()
    con.close()
    fts_s = time.perf_counter() - t0
    return {
        "build_s": round(build_s, 1),
        "keyword_build_s": round(stage_t.get("keyword", 0), 1),
        "vector_build_s": round(stage_t.get("vectors", 0), 1),
        "fts5_build_s": round(fts_s, 1),
    }


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- the probe (a fresh process) ---------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def fts_query(text: str) -> str:
    words = re.findall(r"\w+", text.lower())
    return " OR ".join(f'"{w}"' for w in words) or '""'


def probe(index_root: Path, queries_path: Path) -> dict:
    """Load the service like the web process would, time queries, then the baseline."""
    from paperwire.config import load_settings
    from paperwire.search.encoder import load_encoder
    from paperwire.search.engine import (
        KEYWORD_DEPTH,
        VECTOR_DEPTH,
        QueryEncoder,
        SearchEngine,
    )
    from paperwire.search.fusion import fuse
    from paperwire.search.keyword import Filters
    from paperwire.search.service import SearchService
    from paperwire.search.vectors import search as hnsw_search

    queries = json.loads(queries_path.read_text())
    texts = queries["texts"]
    qvecs = {t: np.asarray(v, np.float32) for t, v in zip(texts, queries["vectors"], strict=True)}

    class Precomputed:
        model_id = queries["model_id"]

        def encode_query(self, text: str) -> np.ndarray:
            return qvecs[text]

    settings = load_settings({"PAPERWIRE_HOME": str(index_root / "home")})
    rss0 = rss_mb()
    service = SearchService(settings, encoder=Precomputed())
    service.search("warm up")
    rss_loaded = rss_mb()
    res: dict = {"rss_start_mb": round(rss0, 1)}
    no_filter = Filters()
    cs_cl = Filters(categories=("cs.CL",), min_upvotes=3)

    def timed(fn, items, engines: tuple = ()) -> tuple[list[float], list]:
        """Seconds per call and what each call returned.

        The engine keeps recent result sets for paging (``RESULT_CACHE``); each
        query of a pass is asked once, but its set is forgotten before the call
        so that every timed search computes its result set.
        """
        times, out = [], []
        for item in items:
            for engine in engines:
                engine._sets.clear()
            t0 = time.perf_counter()
            got = fn(item)
            times.append(time.perf_counter() - t0)
            out.append(got)
        return times, out

    eng = (service.engine,)
    # The first pass reads the index files into the page cache; the figures that
    # follow are for a warm cache, as a server sees after its first minutes.
    t_hybrid_first, _ = timed(lambda t: service.search(t, limit=20), texts, eng)
    t_hybrid, found = timed(lambda t: service.search(t, limit=20), texts, eng)
    t_hybrid_filtered, found_filtered = timed(
        lambda t: service.search(t, categories=["cs.CL"], min_upvotes=3, limit=20), texts, eng
    )
    for name, results in (("", found), ("filtered_", found_filtered)):
        res[f"{name}total_mean"] = float(np.mean([r.total for r in results]))
        res[f"{name}total_p50"] = float(np.median([r.total for r in results]))
        res[f"{name}capped_share"] = float(np.mean([r.capped for r in results]))
        res[f"{name}empty_share"] = float(np.mean([r.total == 0 for r in results]))

    # The parts, through the same IndexView the engine asks.
    view = service._snapshot()
    assert view is not None and view.hnsw is not None, "no index (or no vectors) to probe"
    parsed = {t: _parsed(t) for t in texts}

    def ranked(t: str):
        terms = view.ranked_terms(parsed[t])
        return terms if (terms.tokens or terms.names) else None

    t_kw, _ = timed(lambda t: view.keyword_top(parsed[t], no_filter, ranked(t), SHALLOW), texts)
    t_kw_deep, _ = timed(
        lambda t: view.keyword_top(parsed[t], no_filter, ranked(t), KEYWORD_DEPTH, count=False),
        texts,
    )
    t_vec, vec_first = timed(lambda t: view.nearest(qvecs[t], no_filter, VECTOR_DEPTH), texts)
    t_vec_filtered, vec_filtered = timed(
        lambda t: view.nearest(qvecs[t], cs_cl, VECTOR_DEPTH), texts
    )
    rss_after = rss_mb()
    encoder = load_encoder(MODEL_DIR)
    encoder.encode_query("warm up")
    t_enc, _ = timed(encoder.encode_query, texts)
    real_service = SearchService(settings, encoder=encoder)
    real_service.search("warm up")
    t_hybrid_enc, _ = timed(
        lambda t: real_service.search(t, limit=20), texts, (real_service.engine,)
    )
    rss_with_encoder = rss_mb()

    # Exact search over the stored vectors: the baseline holds them as float32.
    files = view.vectors
    full = np.asarray(files.matrix, np.float32)

    def exact_nearest(
        qv: np.ndarray, filters: Filters, k: int, exclude: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` (keys, cosines) over every vector passing ``filters``."""
        sims = full @ qv
        mask = view.table.mask(filters)
        if mask is not None:
            want = view.table.keys[mask]
            pos = np.minimum(np.searchsorted(files.keys, want), len(files.keys) - 1)
            allowed = np.zeros(len(files.keys), bool)
            allowed[pos[files.keys[pos] == want]] = True
            sims = np.where(allowed, sims, -np.inf)
        if exclude is not None:
            sims = np.where(files.keys == np.uint64(exclude), -np.inf, sims)
        k = min(k, int(np.isfinite(sims).sum()))
        if k <= 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.float32)
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.lexsort((files.keys[top], -sims[top]))]
        return files.keys[top], sims[top].astype(np.float32)

    def exact_top10(q: np.ndarray) -> set[int]:
        return {int(k) for k in exact_nearest(q, no_filter, 10)[0]}

    # Recall@10 vs exact: the vector path as the engine asks it (top VECTOR_DEPTH,
    # HNSW + exact re-rank, its first 10) and raw HNSW top-10; recall@VECTOR_DEPTH
    # of the path (the whole vector candidate list).
    exact_sets = [exact_top10(qvecs[t]) for t in texts]
    rec_path, rec_raw, rec_depth = [], [], []
    for t, ex, (got, _) in zip(texts, exact_sets, vec_first, strict=True):
        rec_path.append(len(ex & {int(k) for k in got[:10]}) / 10)
        raw, _ = hnsw_search(view.hnsw, qvecs[t], 10)
        rec_raw.append(len(ex & {int(k) for k in raw}) / 10)
        ex_depth = {int(k) for k in exact_nearest(qvecs[t], no_filter, VECTOR_DEPTH)[0]}
        rec_depth.append(len(ex_depth & {int(k) for k in got}) / max(1, len(ex_depth)))
    # The same for the filtered vector path (binary codes or HNSW over-fetch).
    rec_filtered = []
    for t, (got, _) in zip(texts, vec_filtered, strict=True):
        ex = {int(k) for k in exact_nearest(qvecs[t], cs_cl, 10)[0]}
        if ex:
            rec_filtered.append(len(ex & {int(k) for k in got[:10]}) / len(ex))

    # The recall / latency trade-off of HNSW's search breadth (top VECTOR_DEPTH, as
    # the engine asks for unfiltered queries).
    ef_sweep = {}
    for ef in (128, 256, 512, 1024):
        view.hnsw.expansion_search = ef
        times, rec = [], []
        for t, ex in zip(texts, exact_sets, strict=True):
            t0 = time.perf_counter()
            raw, _ = hnsw_search(view.hnsw, qvecs[t], VECTOR_DEPTH)
            times.append(time.perf_counter() - t0)
            rec.append(len(ex & {int(k) for k in raw[:10]}) / 10)
        ef_sweep[ef] = {
            "recall10": float(np.mean(rec)),
            "p50_ms": pct(times, 50),
            "p95_ms": pct(times, 95),
        }
    view.hnsw.expansion_search = _vectors.EXPANSION_SEARCH
    res["ef_sweep"] = ef_sweep
    res["ef_search"] = _vectors.EXPANSION_SEARCH

    # Baseline: exact vectors (numpy over all) + exhaustive BM25 (FTS5), the same
    # fusion.  FTS5's BM25 is on another scale than tantivy's BM25F, so this fused
    # list is only timed, not compared: it shares each FTS5 score by the query's
    # tantivy RankedTerms.scale, as the engine would, which costs the same as the
    # right scale would.  FTS5 scores every matching row whatever the LIMIT (which
    # only bounds the rows returned); it lists KEYWORD_DEPTH, as the engine
    # does, and vector candidates that FTS5 did not list count as
    # having no keyword evidence (the engine asks BM25 for them separately).
    con = sqlite3.connect(index_root / "fts5.sqlite")
    key_of: dict[str, int] = {}
    ranking = service.ranking

    def exact_hybrid(t: str) -> list[int]:
        p = _parsed(t)
        terms = view.ranked_terms(p)
        rows = con.execute(
            "SELECT id, -bm25(docs, 0, 2.0, 1.0, 1.0) FROM docs WHERE docs MATCH ?"
            " ORDER BY bm25(docs, 0, 2.0, 1.0, 1.0) LIMIT ?",
            (fts_query(t), KEYWORD_DEPTH),
        ).fetchall()
        bm25 = {key_of.setdefault(r[0], _key(r[0])): float(r[1]) for r in rows}
        q = qvecs[t]
        sims = full @ q
        top = np.argpartition(-sims, VECTOR_DEPTH - 1)[:VECTOR_DEPTH]
        keys = np.array(list(dict.fromkeys([*bm25, *files.keys[top].tolist()])), np.uint64)
        pos = np.minimum(np.searchsorted(files.keys, keys), len(files.keys) - 1)
        c = np.where(files.keys[pos] == keys, sims[pos], np.nan)
        b = np.array([bm25.get(int(k), 0.0) for k in keys])
        scores, matches = fuse(
            b, terms.scale, c, ranking, terms=len(terms.tokens) + len(terms.names)
        )
        keys, scores = keys[matches], scores[matches]
        return keys[np.lexsort((keys, -scores))][:20].tolist()

    t_exact, _ = timed(exact_hybrid, texts)
    t_exact_vec, _ = timed(lambda t: exact_nearest(qvecs[t], no_filter, VECTOR_DEPTH), texts)
    t_fts, _ = timed(
        lambda t: con.execute(
            "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0, 2.0, 1.0, 1.0) LIMIT ?",
            (fts_query(t), KEYWORD_DEPTH),
        ).fetchall(),
        texts,
    )
    # Effect of the approximation on final results: our hybrid vs the same engine
    # (same tantivy keyword candidates, same fusion and floors) over a view whose
    # vector retriever is exact.
    exact_view = _ExactVectors(view, exact_nearest)
    exact_engine = SearchEngine(lambda: exact_view, QueryEncoder(settings, Precomputed()), ranking)
    overlap = []
    for t in texts:
        service.engine._sets.clear()
        ours = [_key(h.id) for h in service.search(t, limit=10).hits]
        ref = [_key(h.id) for h in exact_engine.search(t, limit=10).hits]
        if ours or ref:
            overlap.append(len(set(ours) & set(ref)) / max(len(ours), len(ref)))
    res.update(
        {
            "queries": len(texts),
            "hybrid_p50_ms": pct(t_hybrid, 50),
            "hybrid_p95_ms": pct(t_hybrid, 95),
            "hybrid_first_pass_p50_ms": pct(t_hybrid_first, 50),
            "hybrid_first_pass_p95_ms": pct(t_hybrid_first, 95),
            "hybrid_filtered_p50_ms": pct(t_hybrid_filtered, 50),
            "hybrid_filtered_p95_ms": pct(t_hybrid_filtered, 95),
            "hybrid_enc_p50_ms": pct(t_hybrid_enc, 50),
            "hybrid_enc_p95_ms": pct(t_hybrid_enc, 95),
            "encode_p50_ms": pct(t_enc, 50),
            "encode_p95_ms": pct(t_enc, 95),
            "keyword_p50_ms": pct(t_kw, 50),
            "keyword_p95_ms": pct(t_kw, 95),
            "keyword_deep_p50_ms": pct(t_kw_deep, 50),
            "keyword_deep_p95_ms": pct(t_kw_deep, 95),
            "vector_p50_ms": pct(t_vec, 50),
            "vector_p95_ms": pct(t_vec, 95),
            "vector_filtered_p50_ms": pct(t_vec_filtered, 50),
            "vector_filtered_p95_ms": pct(t_vec_filtered, 95),
            "exact_hybrid_p50_ms": pct(t_exact, 50),
            "exact_hybrid_p95_ms": pct(t_exact, 95),
            "exact_vector_p50_ms": pct(t_exact_vec, 50),
            "exact_vector_p95_ms": pct(t_exact_vec, 95),
            "fts5_p50_ms": pct(t_fts, 50),
            "fts5_p95_ms": pct(t_fts, 95),
            "recall10_vector_path": float(np.mean(rec_path)),
            "recall10_hnsw_raw": float(np.mean(rec_raw)),
            "recall_depth_vector_path": float(np.mean(rec_depth)),
            "recall10_filtered_vector_path": (
                float(np.mean(rec_filtered)) if rec_filtered else float("nan")
            ),
            "hybrid_overlap10_vs_exact": float(np.mean(overlap)) if overlap else float("nan"),
            "overlap_queries": len(overlap),
            "keyword_shallow": SHALLOW,
            "keyword_depth": KEYWORD_DEPTH,
            "vector_depth": VECTOR_DEPTH,
            "rss_loaded_mb": round(rss_loaded, 1),
            "rss_after_queries_mb": round(rss_after, 1),
            "rss_with_encoder_mb": round(rss_with_encoder, 1),
        }
    )
    return res


class _ExactVectors:
    """An IndexView that answers like ``view`` but finds nearest vectors exactly."""

    def __init__(self, view, nearest) -> None:
        self._view = view
        self.nearest = nearest

    def __getattr__(self, name: str):
        return getattr(self._view, name)


def _parsed(text: str):
    from paperwire.search.query import parse_query

    return parse_query(text)


def _key(pid: str) -> int:
    from paperwire.search.doctable import paper_key

    return paper_key(pid)


# -- main ----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="80000,1000000", help="comma-separated corpus sizes")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="probe the indexes an earlier run left under --out instead of rebuilding them"
        " (the code that builds them must not have changed since)",
    )
    ap.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--query-file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.query_file)))
        return

    from paperwire.search.encoder import load_encoder

    print(f"loading corpus and vectors ({time.strftime('%H:%M:%S')})", file=sys.stderr)
    real = load_corpus()
    base, n_real_vectors = load_vectors(real)
    print(f"{n_real_vectors} of {len(real)} papers have real vectors", file=sys.stderr)
    texts = make_queries(real, args.queries)
    encoder = load_encoder(MODEL_DIR)
    qv = np.stack([encoder.encode_query(t) for t in texts])
    args.out.mkdir(parents=True, exist_ok=True)
    qfile = args.out / "queries.json"
    qfile.write_text(
        json.dumps({"texts": texts, "vectors": qv.tolist(), "model_id": encoder.model_id})
    )
    del encoder
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        root = args.out / f"n{size}"
        previous = args.out / f"results-{size}.json"
        if args.reuse and (root / "home" / "index" / "state.json").exists() and previous.exists():
            print(f"reusing the {size}-paper indexes in {root}", file=sys.stderr)
            old = json.loads(previous.read_text())
            info = {k: v for k, v in old.items() if k.endswith("build_s")}
        else:
            print(f"building {size} papers ({time.strftime('%H:%M:%S')})", file=sys.stderr)
            info = build(root, real, base, size)
        gc.collect()
        idx = root / "home" / "index"
        sizes = {
            "keyword_mb": du(next(idx.glob("keyword-*"))) / 1e6,
            "hnsw_mb": du(next(idx.glob("vectors-*.usearch"))) / 1e6,
            "vectors_f16_mb": du(next(idx.glob("vectors-*.npz"))) / 1e6,
            "doctable_mb": du(next(idx.glob("docs-*.npz"))) / 1e6,
            "fts5_mb": du(root / "fts5.sqlite") / 1e6,
        }
        print(f"probing {size} ({time.strftime('%H:%M:%S')})", file=sys.stderr)
        load_before = os.getloadavg()
        proc = subprocess.run(
            [sys.executable, __file__, "--probe", str(root), "--query-file", str(qfile)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            sys.exit(proc.returncode)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res.update(info)
        res.update(sizes)
        res["size"] = size
        res["real_papers"] = min(size, len(real))
        res["real_vectors"] = min(size, n_real_vectors)
        res["loadavg"] = f"{load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}"
        results.append(res)
        (args.out / f"results-{size}.json").write_text(json.dumps(res, indent=2))
        print_table(results)


def print_table(results: list[dict]) -> None:
    from paperwire.search.engine import KEYWORD_DEPTH, VECTOR_DEPTH

    rows = [
        ("hybrid p50 / p95 (ms), no encoding", "hybrid_p50_ms", "hybrid_p95_ms"),
        ("hybrid p50 / p95 (ms), with encoding", "hybrid_enc_p50_ms", "hybrid_enc_p95_ms"),
        (
            "hybrid, first pass (cold page cache), no enc.",
            "hybrid_first_pass_p50_ms",
            "hybrid_first_pass_p95_ms",
        ),
        (
            "hybrid, filtered (cs.CL, >=3 votes), no enc.",
            "hybrid_filtered_p50_ms",
            "hybrid_filtered_p95_ms",
        ),
        ("  query encoding alone", "encode_p50_ms", "encode_p95_ms"),
        (f"  keyword top-{SHALLOW} (tantivy, view)", "keyword_p50_ms", "keyword_p95_ms"),
        (
            f"  keyword top-{KEYWORD_DEPTH} (tantivy, view)",
            "keyword_deep_p50_ms",
            "keyword_deep_p95_ms",
        ),
        (f"  vector top-{VECTOR_DEPTH} (HNSW + re-rank, view)", "vector_p50_ms", "vector_p95_ms"),
        (
            f"  vector top-{VECTOR_DEPTH}, filtered (cs.CL, >=3)",
            "vector_filtered_p50_ms",
            "vector_filtered_p95_ms",
        ),
        ("BASELINE exact hybrid (numpy + FTS5)", "exact_hybrid_p50_ms", "exact_hybrid_p95_ms"),
        (
            f"  exact vectors top-{VECTOR_DEPTH} (numpy, all)",
            "exact_vector_p50_ms",
            "exact_vector_p95_ms",
        ),
        (f"  exhaustive BM25 top-{KEYWORD_DEPTH} (FTS5)", "fts5_p50_ms", "fts5_p95_ms"),
    ]
    header = f"{'':48}" + "".join(f"{r['size']:>22,}" for r in results)
    print()
    print(header)
    for label, a, b in rows:
        print(
            f"{label:48}"
            + "".join(f"{r[a]:>11.2f} /{r[b]:>8.2f}" if a in r else f"{'-':>22}" for r in results)
        )
    print(
        f"{'speed-up p95 (exact / hybrid)':48}"
        + "".join(f"{r['exact_hybrid_p95_ms'] / r['hybrid_p95_ms']:>21.1f}x" for r in results)
    )
    for label, key, fmt in [
        ("real papers (rest synthetic)", "real_papers", "{:>22,}"),
        ("real vectors (rest synthetic)", "real_vectors", "{:>22,}"),
        ("result set: mean / median total per query", ("total_mean", "total_p50"), None),
        ("result set: share capped / share empty", ("capped_share", "empty_share"), None),
        ("filtered set: mean / median total", ("filtered_total_mean", "filtered_total_p50"), None),
        (
            "filtered set: share capped / share empty",
            ("filtered_capped_share", "filtered_empty_share"),
            None,
        ),
        ("recall@10 vector path vs exact", "recall10_vector_path", "{:>22.3f}"),
        ("recall@10 raw HNSW vs exact", "recall10_hnsw_raw", "{:>22.3f}"),
        (f"recall@{VECTOR_DEPTH} vector path vs exact", "recall_depth_vector_path", "{:>22.3f}"),
        ("recall@10 filtered vector path vs exact", "recall10_filtered_vector_path", "{:>22.3f}"),
        ("hybrid overlap@10 vs exact-vector hybrid", "hybrid_overlap10_vs_exact", "{:>22.3f}"),
        ("disk: keyword index (MB)", "keyword_mb", "{:>22.0f}"),
        ("disk: HNSW graph+f16 (MB)", "hnsw_mb", "{:>22.0f}"),
        ("disk: f16 vectors for re-rank (MB)", "vectors_f16_mb", "{:>22.0f}"),
        ("disk: document table (MB)", "doctable_mb", "{:>22.0f}"),
        ("disk: FTS5 baseline (MB)", "fts5_mb", "{:>22.0f}"),
        ("RSS after load + queries (MB)", "rss_after_queries_mb", "{:>22.0f}"),
        ("RSS incl. encoder (MB)", "rss_with_encoder_mb", "{:>22.0f}"),
        ("build: keyword (s)", "keyword_build_s", "{:>22.0f}"),
        ("build: vectors (s)", "vector_build_s", "{:>22.0f}"),
        ("build: FTS5 baseline (s)", "fts5_build_s", "{:>22.0f}"),
        ("HNSW expansion_search used", "ef_search", "{:>22}"),
        ("load average during probe", "loadavg", "{:>22}"),
    ]:
        if isinstance(key, tuple):  # two figures in one cell
            cells = "".join(
                f"{r[key[0]]:>11.3g} /{r[key[1]]:>8.3g}" if key[0] in r else f"{'-':>22}"
                for r in results
            )
        else:
            cells = "".join(fmt.format(r.get(key, "-")) for r in results)
        print(f"{label:48}{cells}")
    for ef in ("128", "256", "512", "1024"):
        cells = ""
        for r in results:
            e = {str(k): v for k, v in r.get("ef_sweep", {}).items()}.get(ef)
            cells += f"{e['recall10']:>8.3f} {e['p50_ms']:>5.1f}/{e['p95_ms']:>6.1f}" if e else ""
        label = f"HNSW ef={ef}: recall@10, top-{VECTOR_DEPTH} p50/p95 ms"
        print(f"{label:48}{cells}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
