"""Import the shared arXiv corpus into an empty SQLite catalog, then re-import it.

Baseline (the floor), measured in the same run: decompress the file and
``json.loads`` every line, doing nothing else.

    .venv/bin/python bench/bench_import.py [PATH] [--with-index]

``--with-index`` also times the search-index update that `paperwire import`
runs after the catalog write (skipped when the search package is absent).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"


def floor(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    n = 0
    with gzip.open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                json.loads(line)
                n += 1
    return n, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--with-index", action="store_true")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="paperwire-bench-import-"))
    os.environ["PAPERWIRE_HOME"] = str(home)
    from paperwire.catalog.importer import import_files
    from paperwire.config import load_settings
    from paperwire.db import open_database
    from paperwire.pipeline import catalog_changed

    settings = load_settings()
    db = open_database(settings)

    rows = []
    n, seconds = floor(args.path)
    rows.append(("json.loads floor", n, seconds))
    for label in ("import (empty catalog)", "re-import (same file)"):
        report = import_files(db, [args.path], progress=False)
        rows.append((label, report.records, report.seconds))
        if args.with_index:
            started = time.perf_counter()
            catalog_changed(settings, db, report.changed_ids)
            rows.append(
                ("  + index update", len(report.changed_ids), time.perf_counter() - started)
            )
    size = sum(f.stat().st_size for f in home.glob("paperwire.db*"))

    print(f"file: {args.path}  ({args.path.stat().st_size / 1e6:.1f} MB gzip)")
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}")
    print(f"{'step':28} {'papers':>8} {'seconds':>8} {'papers/s':>9} {'x floor':>8}")
    base = rows[0][2]
    for label, count, secs in rows:
        rate = count / secs if secs else float("inf")
        print(f"{label:28} {count:>8} {secs:>8.2f} {rate:>9.0f} {secs / base:>8.1f}")
    print(f"catalog size on disk: {size / 1e6:.0f} MB ({home})")


if __name__ == "__main__":
    main()
