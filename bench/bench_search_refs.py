"""Hybrid search latency of two commits, alternating, on the same index files.

    .venv/bin/python bench/bench_search_latency.py            # once: builds the indexes
    .venv/bin/python bench/bench_search_refs.py 97523b8 HEAD  # before / after
    .venv/bin/python bench/bench_search_refs.py 97523b8 HEAD --size 80000 --rounds 3
    .venv/bin/python bench/bench_search_refs.py 97523b8 HEAD --filtered   # cs.CL, >= 3 votes

Why: on a shared two-core machine absolute times drift by tens of percent
between runs, so a change is measured against its parent in the same run, the
two taking turns (``--rounds`` each), over the same queries and the same index
files (``bench/out/latency/n<size>``, built by ``bench_search_latency.py``;
the index format must be the same at both commits).

Each commit's code is checked out into ``bench/out/refs/<sha>`` (a git
worktree) and run in a fresh process that loads ``SearchService`` from it, as
the web process would, with the query vectors precomputed (encoding is timed
by ``bench_search_latency.py``).  Every query runs once to warm the page cache;
then each is timed with the engine's result-set cache cleared, so every call
computes its whole result set.  Printed per commit: wall p50 / p95 / mean per
query, CPU seconds per query (both of the engine's threads), the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LATENCY = ROOT / "bench" / "out" / "latency"
REFS = ROOT / "bench" / "out" / "refs"


def checkout(ref: str) -> tuple[str, Path]:
    """(short sha, a worktree of ``ref``), created once per commit."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = REFS / sha
    if not (tree / "paperwire").is_dir():
        REFS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), sha],
            check=True,
            capture_output=True,
        )
    return sha, tree


def precomputed_queries(queries: Path, limit: int) -> tuple[list[str], object]:
    """The bench queries and an encoder that answers with their stored vectors."""
    data = json.loads(queries.read_text())
    texts = data["texts"][:limit]
    vectors = {t: np.asarray(v, np.float32) for t, v in zip(texts, data["vectors"], strict=False)}

    class Precomputed:
        model_id = data["model_id"]

        def encode_query(self, text: str) -> np.ndarray:
            return vectors[text]

    return texts, Precomputed()


def probe(tree: Path, index_root: Path, queries: Path, limit: int, filtered: bool) -> dict:
    """Time the queries with the code under ``tree`` (run in a child process)."""
    sys.path.insert(0, str(tree))
    import paperwire
    from paperwire.config import load_settings
    from paperwire.search.service import SearchService

    assert Path(paperwire.__file__).is_relative_to(tree), paperwire.__file__

    texts, encoder = precomputed_queries(queries, limit)
    service = SearchService(
        load_settings({"PAPERWIRE_HOME": str(index_root / "home")}), encoder=encoder
    )
    options = {"categories": ["cs.CL"], "min_upvotes": 3} if filtered else {}
    for t in texts:  # warm: the page cache, tantivy's and usearch's mapped files
        service.engine._sets.clear()
        service.search(t, limit=20, **options)
    times = []
    cpu0 = time.process_time()
    for t in texts:
        service.engine._sets.clear()
        t0 = time.perf_counter()
        service.search(t, limit=20, **options)
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    ms = np.array(times) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "cpu_ms": cpu / len(texts) * 1e3,
        "queries": len(texts),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("refs", nargs=2, help="two commits: before and after")
    ap.add_argument("--size", type=int, default=1_000_000, help="which bench index to probe")
    ap.add_argument("--rounds", type=int, default=2, help="turns per commit")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--filtered", action="store_true", help="with a selective filter (cs.CL, >= 3 votes)"
    )
    ap.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    index_root = LATENCY / f"n{args.size}"
    queries = LATENCY / "queries.json"
    if args.probe:
        tree, root = Path(args.probe[0]), Path(args.probe[1])
        print(json.dumps(probe(tree, root, queries, args.queries, args.filtered)))
        return
    if not (index_root / "home" / "index" / "state.json").exists() or not queries.exists():
        sys.exit(f"no index in {index_root}: run bench/bench_search_latency.py first")
    trees = [checkout(ref) for ref in args.refs]
    runs: dict[str, list[dict]] = {sha: [] for sha, _ in trees}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for sha, tree in trees:
            command = [sys.executable, __file__, *args.refs, "--queries", str(args.queries)]
            command += ["--filtered"] if args.filtered else []
            command += ["--probe", str(tree), str(index_root)]
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(tree)},
            )
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            runs[sha].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])
    kind = "hybrid search, filtered (cs.CL, >= 3 votes)," if args.filtered else "hybrid search"
    print(
        f"\n{kind} at {args.size:,} papers, {args.queries} queries, {args.rounds} turns"
        f" each, load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'commit':10} {'p50 ms':>16} {'p95 ms':>16} {'mean ms':>16} {'CPU ms/query':>16}")
    for (sha, _), ref in zip(trees, args.refs, strict=True):
        cells = []
        for key in ("p50_ms", "p95_ms", "mean_ms", "cpu_ms"):
            values = [r[key] for r in runs[sha]]
            cells.append(f"{min(values):>7.1f}-{max(values):<7.1f}")
        print(f"{sha:10} {' '.join(f'{c:>16}' for c in cells)}  ({ref})")
    before, after = (np.median([r["p95_ms"] for r in runs[sha]]) for sha, _ in trees)
    print(f"median p95, {args.refs[0]} / {args.refs[1]}: {before / after:.2f}x")


if __name__ == "__main__":
    main()
