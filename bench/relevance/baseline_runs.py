"""Rankings of the search that shipped before, computed by its own code.

    python bench/relevance/baseline_runs.py SRC QUERIES OUT CORPUS

``SRC`` is an extracted copy of the repository at the baseline commit (made by
``bench/bench_relevance.py``), whose ``paperwire`` package and benchmark
helpers are imported instead of today's: nothing of the current code takes
part, so the "before" figures are what that commit really did.  ``QUERIES`` is
a JSON list of query strings; ``OUT`` receives ``{system: {query: [ids]}}``
for its BM25, vector and hybrid rankings (top 20), and ``totals``: the number
of results its service reported for each query.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    src, queries_path, out_path, corpus = (Path(a).resolve() for a in sys.argv[1:5])
    sys.path[:0] = [str(src), str(src / "bench")]
    import bench_relevance as old  # the baseline's own benchmark module
    import bench_search_latency

    bench_search_latency.CORPUS = corpus  # the copy has no ../shared beside it
    rows, matrix = old.real_vectors(bench_search_latency.load_corpus())
    home = old.build(rows, matrix, out_path.parent / f"baseline-index-{src.name}")
    systems = old.Systems(home)
    queries = json.loads(queries_path.read_text())
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "vectors": {}, "hybrid": {}}
    totals: dict[str, int] = {}
    for q in queries:
        for name in runs:
            runs[name][q] = systems.ranking(q, name)
        totals[q] = int(systems.service.search(q, limit=10).total)
    out_path.write_text(json.dumps({"runs": runs, "totals": totals}))


if __name__ == "__main__":
    main()
