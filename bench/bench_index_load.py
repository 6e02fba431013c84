"""Opening an index generation: the vector arrays in an ``.npz`` against memory-mapped ``.npy``.

    .venv/bin/python bench/bench_search_latency.py           # once: builds the bench indexes
    .venv/bin/python bench/bench_index_load.py                # 1M papers
    .venv/bin/python bench/bench_index_load.py --size 80000

Why it matters: every web worker opens each new index generation (after every
import), and a generation's float16 vectors are 768 MB at 1M papers.  Read from
an ``.npz`` they are copied into each worker's own memory; as ``.npy`` files
they are mapped, so a generation opens at once and the workers of a machine
share one copy in the page cache.

The bench index (``bench/out/latency/n<size>``) is linked, not copied, into
``bench/out/index-load/``, once with the arrays as ``.npz`` (what
``bench_search_latency.py`` wrote, if it wrote that) and once as ``.npy`` files,
and a fresh process per format and turn opens the service, answers one query,
then 50 more.  Printed per format: seconds to open and answer the first query,
the process's unshared (anonymous) memory after it, and p50 of the 50 queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATENCY = ROOT / "bench" / "out" / "latency"
OUT = ROOT / "bench" / "out" / "index-load"


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(home: Path, queries: int) -> dict:
    """Run in a child process: open the service over ``home`` and time it."""
    import numpy as np
    from bench_search_refs import precomputed_queries

    from paperwire.config import load_settings
    from paperwire.search.service import SearchService

    texts, encoder = precomputed_queries(LATENCY / "queries.json", queries)
    before = rss_anon_mb()
    t0 = time.perf_counter()
    service = SearchService(load_settings({"PAPERWIRE_HOME": str(home)}), encoder=encoder)
    service.search(texts[0], limit=20)
    opened = time.perf_counter() - t0
    after_open = rss_anon_mb()
    times = []
    for t in texts[1:]:
        service.engine._sets.clear()
        t1 = time.perf_counter()
        service.search(t, limit=20)
        times.append(time.perf_counter() - t1)
    return {
        "open_s": opened,
        "anon_open_mb": after_open - before,
        "anon_after_mb": rss_anon_mb() - before,
        "p50_ms": float(np.percentile(np.array(times) * 1e3, 50)),
    }


def linked_home(source: Path, name: str, arrays: bool) -> Path:
    """A home whose index links ``source``'s files, with the vectors as ``.npy`` or not."""
    from paperwire.search.indexing import VectorFiles

    home = OUT / name
    shutil.rmtree(home, ignore_errors=True)
    (home / "index").mkdir(parents=True)
    state = json.loads((source / "state.json").read_text())
    for name_ in (state["keyword"], state["docs"], state["vectors"]):
        src = source / name_
        if src.is_dir():
            shutil.copytree(src, home / "index" / name_, copy_function=os.link)
        else:
            os.link(src, home / "index" / name_)
    matrix = source / state["vector_matrix"]
    files = VectorFiles.load(matrix, mmap=False).with_codes()
    if arrays:
        state["vector_matrix"] = state["vectors"].removesuffix(".usearch") + ".arrays"
        files.save(home / "index" / state["vector_matrix"])
    else:
        import numpy as np

        state["vector_matrix"] = state["vectors"].removesuffix(".usearch") + ".npz"
        with open(home / "index" / state["vector_matrix"], "wb") as fh:
            np.savez(
                fh, keys=files.keys, matrix=files.matrix, codes=files.codes, center=files.center
            )
    (home / "index" / "state.json").write_text(json.dumps(state))
    return home


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--queries", type=int, default=51)
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        print(json.dumps(probe(Path(args.probe), args.queries)))
        return
    source = LATENCY / f"n{args.size}" / "home" / "index"
    if not (source / "state.json").exists():
        sys.exit(f"no index in {source}: run bench/bench_search_latency.py first")
    homes = {
        "npz (copied)": linked_home(source, "npz", arrays=False),
        "npy (mapped)": linked_home(source, "npy", arrays=True),
    }
    runs: dict[str, list[dict]] = {k: [] for k in homes}
    for _ in range(args.rounds):
        for label, home in homes.items():
            proc = subprocess.run(
                [sys.executable, __file__, "--probe", str(home), "--queries", str(args.queries)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            runs[label].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()[0]
    print(f"\nopening a {args.size:,}-paper index, {args.rounds} turns each, load {load:.1f}")
    header = ("vectors as", "open + 1st query", "unshared MB, open", "after queries", "p50 ms")
    print(f"{header[0]:14} {header[1]:>18} {header[2]:>18} {header[3]:>14} {header[4]:>8}")
    for label, rows in runs.items():

        def span(key: str, fmt: str, rows: list[dict] = rows) -> str:
            values = [r[key] for r in rows]
            return f"{fmt.format(min(values))}-{fmt.format(max(values))}"

        print(
            f"{label:14} {span('open_s', '{:.2f}') + ' s':>18} {span('anon_open_mb', '{:.0f}'):>18}"
            f" {span('anon_after_mb', '{:.0f}'):>14} {span('p50_ms', '{:.1f}'):>8}"
        )


if __name__ == "__main__":
    main()
