"""Relevance: BM25 alone vs vectors alone vs hybrid (RRF), on the shared arXiv corpus.

    .venv/bin/python bench/embed_corpus.py          # once: real MiniLM vectors
    .venv/bin/python bench/bench_relevance.py       # build, tune, report
    .venv/bin/python bench/bench_relevance.py --pool 10   # candidates to judge

Corpus: the first ``--limit`` papers in announcement order (default 6,000,
listed 2025-03-18 to 2025-04-25: the corpus on which the judgments were made,
because that much was embedded when they were made; ``--limit 0`` for all
79,990) of ``../shared/data/arxiv-cs-2025-2026.jsonl.gz`` with their real
vectors from ``.cache/embeddings`` (``embed_corpus.py``).  On a larger corpus
the judged queries meet unjudged papers, which count as not relevant.
Indexes are built with the production code (``indexing.build_generation``),
queries are answered by the production code paths: tantivy BM25 top-100
(``KeywordIndex``), vector top-100 (``SearchService._vector_candidates``:
HNSW + exact re-rank), and their fusion (``service.fuse``).

(a) Known-item search: a paper is sought with one sentence from the middle of
its abstract (the sentence at index len//2, at least 6 words); the paper is
the only relevant result; MRR@10.  Two disjoint samples with fixed seeds:
a *tuning* split (300 papers, seed 11) on which RRF's k and the vector weight
are chosen by grid search, and an *evaluation* split (600 papers, seed 12)
that is reported.  (b) ``bench/relevance_queries.jsonl``: queries written the
way researchers search (vague memories of a paper, short topics, acronyms,
method names) with graded judgments (3 = the paper sought / exactly on topic,
2 = clearly relevant, 1 = related, 0 or unjudged = not relevant), made by
reading the pooled top-10 of all three systems (``--pool``).  nDCG@10 with
gain 2^g - 1.  These queries are never used for tuning.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_search_latency import EMBEDDINGS, MODEL_DIR, load_corpus  # noqa: E402

from paperwire.search import vectors as _vectors  # noqa: E402,F401  (onnxruntime first)

OUT = ROOT / "bench" / "out" / "relevance"
QUERIES = ROOT / "bench" / "relevance_queries.jsonl"
K_GRID = (1, 2, 3, 5, 10, 20, 30, 60, 100)
W_GRID = (0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def real_vectors(rows: list[dict]) -> tuple[list[dict], np.ndarray]:
    """Rows that have a real vector, with their vectors (merged file or finished chunks)."""
    from paperwire.search.embeddings import read_embeddings_file

    if EMBEDDINGS.exists():
        parts = [read_embeddings_file(EMBEDDINGS)]
    else:
        chunks = sorted((EMBEDDINGS.parent / EMBEDDINGS.stem).glob("chunk-*.npz"))
        if not chunks:
            sys.exit(f"{EMBEDDINGS} missing: run .venv/bin/python bench/embed_corpus.py first")
        parts = [read_embeddings_file(c) for c in chunks]
    pos = {}
    for pi, part in enumerate(parts):
        for i, pid in enumerate(part.ids):
            pos[str(pid)] = (pi, i)
    kept = [r for r in rows if r["id"] in pos]
    matrix = np.stack([np.asarray(parts[pos[r["id"]][0]].vectors[pos[r["id"]][1]]) for r in kept])
    matrix = matrix.astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return kept, matrix


def build(rows: list[dict], matrix: np.ndarray, out: Path) -> Path:
    """Index ``rows`` once per corpus (reused while the corpus is unchanged)."""
    from paperwire.search.encoder import MODEL_ID
    from paperwire.search.indexing import State, build_generation

    home = out / f"home-{len(rows)}"
    index_dir = home / "index"
    state = State.read(index_dir)
    if state is not None and state.vectors:
        return home
    ids = [r["id"] for r in rows]
    state = build_generation(
        index_dir,
        1,
        iter(rows),
        total=len(rows),
        vectors=lambda: (ids, matrix),
        model_id=MODEL_ID,
        threads=2,
    )
    state.write(index_dir)
    return home


class Systems:
    """The three rankers over one built index; candidate lists are cached per query."""

    def __init__(self, home: Path) -> None:
        from paperwire.config import load_settings
        from paperwire.search.encoder import load_encoder
        from paperwire.search.service import SearchService

        self.encoder = load_encoder(MODEL_DIR)
        self.service = SearchService(
            load_settings({"PAPERWIRE_HOME": str(home)}), encoder=self.encoder
        )
        self.snap = self.service._snapshot()
        self.cache: dict[str, tuple[list[str], list[str]]] = {}

    def candidates(self, query: str) -> tuple[list[str], list[str]]:
        """Top-100 ids from BM25 and from vectors."""
        from paperwire.search.keyword import Filters
        from paperwire.search.query import parse_query
        from paperwire.search.service import CANDIDATES

        if query not in self.cache:
            snap, svc = self.snap, self.service
            parsed = parse_query(query)
            kw_hits, _ = snap.keyword.search(
                snap.keyword.build_query(parsed, Filters()), CANDIDATES
            )
            qv = self.encoder.encode_query(parsed.semantic_text)
            vkeys, _ = svc._vector_candidates(snap, qv, Filters(), CANDIDATES)
            self.cache[query] = (
                [svc._id(snap, h.key) for h in kw_hits],
                [svc._id(snap, int(k)) for k in vkeys],
            )
        return self.cache[query]

    def ranking(self, query: str, system: str, k: float = 60.0, w: float = 1.0) -> list[str]:
        from paperwire.search.service import fuse

        kw, vec = self.candidates(query)
        if system == "bm25":
            return kw
        if system == "vectors":
            return vec
        return [pid for pid, _ in fuse(kw, vec, keyword_weight=1.0, vector_weight=w, k=k)]


def known_items(rows: list[dict], n: int, seed: int, exclude: set[str]) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    out = []
    for i in order:
        r = rows[i]
        if r["id"] in exclude:
            continue
        sentences = [s for s in _SENT.split(r["abstract"]) if len(s.split()) >= 6]
        if len(sentences) < 3:
            continue
        out.append((sentences[len(sentences) // 2], r["id"]))
        if len(out) == n:
            break
    return out


def mrr10(ranking: list[str], target: str) -> float:
    for i, pid in enumerate(ranking[:10], start=1):
        if pid == target:
            return 1.0 / i
    return 0.0


def ndcg10(ranking: list[str], grades: dict[str, int]) -> float:
    dcg = sum((2 ** grades.get(p, 0) - 1) / math.log2(i + 2) for i, p in enumerate(ranking[:10]))
    ideal = sorted(grades.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def load_judged() -> list[dict]:
    if not QUERIES.exists():
        return []
    return [json.loads(line) for line in QUERIES.read_text().splitlines() if line.strip()]


def pool(systems: Systems, rows: list[dict], depth: int, path: Path) -> None:
    """Write the pooled top-``depth`` of all three systems, for reading and judging."""
    by_id = {r["id"]: r for r in rows}
    with open(path, "w") as fh:
        for q in load_judged():
            ids: dict[str, list[str]] = {}
            for system in ("bm25", "vectors", "hybrid"):
                for rank, pid in enumerate(systems.ranking(q["query"], system)[:depth], 1):
                    ids.setdefault(pid, []).append(f"{system[0]}{rank}")
            fh.write(f"\n## {q['qid']}  {q['query']!r}  ({q.get('intent', '')})\n")
            for pid, where in ids.items():
                r = by_id[pid]
                judged = q.get("judgments", {}).get(pid, "")
                fh.write(f"{pid} [{judged}] {' '.join(where):14} {r['title'][:150]}\n")
                fh.write(f"      {r['abstract'][:260]}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pool", type=int, default=0, help="write pooled candidates of this depth")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--limit",
        type=int,
        default=6_000,
        help="corpus: the first N papers (the judgments were made on the first 6,000); 0 = all",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    corpus = load_corpus(args.limit or None)
    rows, matrix = real_vectors(corpus)
    if len(rows) < len(corpus):
        sys.exit(
            f"only {len(rows)} of {len(corpus)} papers have vectors yet: wait or lower --limit"
        )
    home = build(rows, matrix, args.out)
    systems = Systems(home)
    print(f"corpus: {len(rows)} papers with real vectors ({time.perf_counter() - t0:.0f}s)")
    if args.pool:
        path = args.out / "pool.txt"
        pool(systems, rows, args.pool, path)
        print(f"pooled candidates written to {path}")
        return

    tune = known_items(rows, 300, seed=11, exclude=set())
    evaluate = known_items(rows, 600, seed=12, exclude={pid for _, pid in tune})
    for query, _ in tune + evaluate:
        systems.candidates(query)
    grid = {}
    for k in K_GRID:
        for w in W_GRID:
            grid[(k, w)] = float(
                np.mean([mrr10(systems.ranking(q, "hybrid", k, w), pid) for q, pid in tune])
            )
    best_k, best_w = max(grid, key=lambda kw: (grid[kw], -abs(kw[1] - 1), -abs(kw[0] - 60)))
    from paperwire.search import service

    print(
        f"tuned on {len(tune)} known items: k={best_k}, vector weight={best_w} "
        f"(tuning MRR@10 {grid[(best_k, best_w)]:.3f}; default k=60,w=1: {grid[(60, 1.0)]:.3f}; "
        f"service uses k={service.RRF_K}, w={service.VECTOR_WEIGHT})"
    )
    print("tuning grid (MRR@10 on the tuning split; rows k, columns vector weight):")
    print(f"{'k':>6}" + "".join(f"{w:>7}" for w in W_GRID))
    for k in K_GRID:
        print(f"{k:>6}" + "".join(f"{grid[(k, w)]:>7.3f}" for w in W_GRID))
    settings = {
        "bm25": {},
        "vectors": {},
        "hybrid (service k, w)": {"k": service.RRF_K, "w": service.VECTOR_WEIGHT},
        "hybrid (tuned k, w)": {"k": best_k, "w": best_w},
        "hybrid (k=60, w=1)": {"k": 60.0, "w": 1.0},
    }
    judged = [q for q in load_judged() if q.get("judgments")]
    table = []
    for name, kw in settings.items():
        system = name.split()[0]
        mrr = np.mean([mrr10(systems.ranking(q, system, **kw), pid) for q, pid in evaluate])
        nd = [ndcg10(systems.ranking(q["query"], system, **kw), q["judgments"]) for q in judged]
        by_intent: dict[str, list[float]] = {}
        for q, v in zip(judged, nd, strict=True):
            by_intent.setdefault(q.get("intent", "other"), []).append(v)
        table.append((name, mrr, float(np.mean(nd)) if nd else float("nan"), by_intent))
    intents = sorted({i for *_, b in table for i in b})
    print(f"\nknown-item: {len(evaluate)} evaluation papers; judged queries: {len(judged)}")
    header = f"{'system':24}{'MRR@10 (a)':>12}{'nDCG@10 (b)':>13}" + "".join(
        f"{i[:10]:>12}" for i in intents
    )
    print(header)
    for name, mrr, nd, by_intent in table:
        cells = "".join(
            f"{np.mean(by_intent[i]):>12.3f}" if i in by_intent else f"{'':>12}" for i in intents
        )
        print(f"{name:24}{mrr:>12.3f}{nd:>13.3f}{cells}")
    counts = "".join(f"{len(table[0][3].get(i, [])):>12}" for i in intents)
    print(f"{'(queries per intent)':49}{counts}")
    result = {
        "corpus": len(rows),
        "tuned": {"k": best_k, "w": best_w},
        "rows": [{"system": n, "mrr10": m, "ndcg10": d} for n, m, d, _ in table],
    }
    (args.out / f"results-{len(rows)}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
