"""Relevance: BM25 alone vs vectors alone vs hybrid, on the shared arXiv corpus.

    .venv/bin/python bench/embed_corpus.py          # once: real MiniLM vectors
    .venv/bin/python bench/bench_relevance.py       # build, tune, report (all 79,990)
    .venv/bin/python bench/bench_relevance.py --pool 10   # candidates to judge

Corpus: all 79,990 papers of ``../shared/data/arxiv-cs-2025-2026.jsonl.gz`` with
their real vectors from ``.cache/embeddings`` (``embed_corpus.py``);
``--limit N`` takes the first N in announcement order instead.  Indexes are
built with the production code (``indexing.build_generation``) and queries are
answered by the production code path (``SearchService._candidates``: tantivy
BM25 top-100 and vector top-100, run concurrently, plus the exact cosine of
every keyword candidate); the systems compared rank those candidates:

- ``bm25``: the keyword list alone; ``vectors``: the vector list alone;
- ``hybrid``: the service's fusion (``fusion.fuse``, a convex combination of
  min-max normalised BM25 and cosine) with the share the service uses, and
  with the share tuned in this run;
- ``rrf``: reciprocal rank fusion, the usual alternative, with its k and vector
  weight tuned in this run on the same split, and with the textbook k=60, w=1.

(a) Known-item search: a paper is sought with one sentence from the middle of
its abstract (the sentence at index len//2, at least 6 words); the paper is
the only relevant result; MRR@10.  Two disjoint samples with fixed seeds:
a *tuning* split (300 papers, seed 11) on which the fusion parameters are
chosen by grid search, and an *evaluation* split (600 papers, seed 12) that is
reported.  (b) ``bench/relevance_queries.jsonl``: 54 queries written the way
researchers search (vague memories of a paper, short topics, acronyms, method
names) with graded judgments (3 = the paper sought / exactly on topic,
2 = clearly relevant, 1 = related, 0 or unjudged = not relevant), made by
reading the pooled top-10 of the systems (``--pool``) on the first 6,000 papers
and again on all 79,990.  nDCG@10 with gain 2^g - 1; the table also shows
which share of each system's top-10 was judged.  These queries are never used
for tuning.
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
SHARE_GRID = tuple(round(0.05 * i, 2) for i in range(2, 19))  # keyword share 0.1..0.9
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
        self.cache: dict = {}

    def candidates(self, query: str):
        """What the service's two retrievers return for ``query`` (cached)."""
        from paperwire.search.keyword import Filters
        from paperwire.search.query import parse_query
        from paperwire.search.service import CANDIDATES

        if query not in self.cache:
            cands, _, _ = self.service._candidates(
                self.snap, parse_query(query), Filters(), CANDIDATES
            )
            self.cache[query] = cands
        return self.cache[query]

    def ranking(self, query: str, system: str, **params: float) -> list[str]:
        from paperwire.search.fusion import fuse, reciprocal_rank_fusion

        c = self.candidates(query)
        if system == "bm25":
            keys = [k for k, _ in c.keyword]
        elif system == "vectors":
            keys = [k for k, _ in c.vector]
        elif system == "rrf":
            keys = [
                k
                for k, _ in reciprocal_rank_fusion(
                    [k for k, _ in c.keyword], [k for k, _ in c.vector], **params
                )
            ]
        else:
            keys = [k for k, _ in fuse(c, **params)]
        return self.service._ids(self.snap, keys[:20])


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
                fh.write(f"{pid} [{judged}] {' '.join(where):14} {r['title']}\n")
                fh.write(f"      {' '.join(r['abstract'].split())}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pool", type=int, default=0, help="write pooled candidates of this depth")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--limit",
        type=int,
        default=0,
        help="corpus: the first N papers in announcement order; 0 (default) = all",
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

    def tuning_mrr(system: str, **params: float) -> float:
        return float(np.mean([mrr10(systems.ranking(q, system, **params), p) for q, p in tune]))

    from paperwire.search import fusion

    shares = {a: tuning_mrr("hybrid", keyword_share=a) for a in SHARE_GRID}
    best_share = max(shares, key=lambda a: (shares[a], -abs(a - fusion.KEYWORD_SHARE)))
    rrf_grid = {(k, w): tuning_mrr("rrf", k=k, vector_weight=w) for k in K_GRID for w in W_GRID}
    best_k, best_w = max(rrf_grid, key=lambda kw: (rrf_grid[kw], -abs(kw[0] - 60)))
    print(
        f"tuned on {len(tune)} known items: keyword share {best_share} (tuning MRR@10 "
        f"{shares[best_share]:.3f}; the service uses {fusion.KEYWORD_SHARE}); "
        f"RRF k={best_k}, w={best_w} ({rrf_grid[(best_k, best_w)]:.3f})"
    )
    print("keyword share:  " + "".join(f"{a:>7}" for a in SHARE_GRID))
    print("tuning MRR@10:  " + "".join(f"{shares[a]:>7.3f}" for a in SHARE_GRID))
    settings: dict[str, tuple[str, dict]] = {
        "bm25": ("bm25", {}),
        "vectors": ("vectors", {}),
        f"hybrid (service, {fusion.KEYWORD_SHARE})": ("hybrid", {}),
        f"hybrid (tuned, {best_share})": ("hybrid", {"keyword_share": best_share}),
        f"rrf (tuned k={best_k}, w={best_w})": ("rrf", {"k": best_k, "vector_weight": best_w}),
        "rrf (k=60, w=1)": ("rrf", {"k": 60.0, "vector_weight": 1.0}),
    }
    judged = [q for q in load_judged() if q.get("judgments")]
    table = []
    for name, (system, params) in settings.items():
        mrr = np.mean([mrr10(systems.ranking(q, system, **params), p) for q, p in evaluate])
        runs = [(q, systems.ranking(q["query"], system, **params)) for q in judged]
        nd = [ndcg10(run, q["judgments"]) for q, run in runs]
        seen = [np.mean([p in q["judgments"] for p in run[:10]] or [0]) for q, run in runs]
        by_intent: dict[str, list[float]] = {}
        for q, v in zip(judged, nd, strict=True):
            by_intent.setdefault(q.get("intent", "other"), []).append(v)
        table.append((name, mrr, float(np.mean(nd)) if nd else float("nan"), seen, by_intent))
    intents = sorted({i for *_, b in table for i in b})
    print(f"\nknown-item: {len(evaluate)} evaluation papers; judged queries: {len(judged)}")
    header = f"{'system':28}{'MRR@10 (a)':>11}{'nDCG@10 (b)':>12}{'judged':>8}" + "".join(
        f"{i[:10]:>10}" for i in intents
    )
    print(header)
    for name, mrr, nd, seen, by_intent in table:
        cells = "".join(
            f"{np.mean(by_intent[i]):>10.3f}" if i in by_intent else f"{'':>10}" for i in intents
        )
        print(f"{name:28}{mrr:>11.3f}{nd:>12.3f}{np.mean(seen):>8.0%}{cells}")
    counts = "".join(f"{len(table[0][4].get(i, [])):>10}" for i in intents)
    print(f"{'(queries per intent)':59}{counts}")
    result = {
        "corpus": len(rows),
        "tuned": {"keyword_share": best_share, "rrf_k": best_k, "rrf_w": best_w},
        "rows": [
            {"system": n, "mrr10": m, "ndcg10": d, "judged10": float(np.mean(j))}
            for n, m, d, j, _ in table
        ],
    }
    (args.out / f"results-{len(rows)}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
