"""A `kill -9` midway through an import, then a re-run: every paper exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.catalog.helpers import jsonl_record, write_jsonl
from tests.conftest import SHARED_DATA

TOTAL = 30_000
BATCH = 500


def _counts(db_path: Path) -> tuple[int, int, int]:
    """(papers, category rows, papers lacking categories), read-only."""
    if not db_path.exists():
        return 0, 0, 0
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        papers = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
        cats = conn.execute("SELECT count(*) FROM paper_categories").fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM papers p WHERE NOT EXISTS "
            "(SELECT 1 FROM paper_categories c WHERE c.paper_id = p.id)"
        ).fetchone()[0]
        return papers, cats, orphans
    except sqlite3.OperationalError:  # tables not created yet
        return 0, 0, 0
    finally:
        conn.close()


def test_kill_midway_then_rerun_completes_without_duplicates(home, run_cli, tmp_path) -> None:
    records = [jsonl_record(i) for i in range(1, TOTAL + 1)]
    expected_categories = sum(len(r["categories"]) for r in records)
    path = write_jsonl(tmp_path / "big.jsonl.gz", records, gz=True)
    db_path = home / "paperwire.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "import", "--batch-size", str(BATCH), str(path)],
        env={**os.environ, "PAPERWIRE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _counts(db_path)[0] >= 3 * BATCH:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "import finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    papers, cats, orphans = _counts(db_path)
    assert 0 < papers < TOTAL
    assert papers % BATCH == 0, "a batch was half-written"
    assert orphans == 0

    result = run_cli("import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = result.json()
    assert summary["inserted"] == TOTAL - papers and summary["unchanged"] == papers
    papers, cats, orphans = _counts(db_path)
    assert (papers, cats, orphans) == (TOTAL, expected_categories, 0)
    assert run_cli("stats", "--json").json()["papers"] == TOTAL


CORPUS = SHARED_DATA / "arxiv-cs-2025-2026.jsonl.gz"


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
def test_full_shared_corpus_imports_79990_papers_twice(run_cli) -> None:
    for _ in range(2):
        result = run_cli("import", "--no-index", str(CORPUS), "--json")
        assert result.returncode == 0, result.stderr
        assert result.json()["skipped"] == 0
        assert run_cli("stats", "--json").json()["papers"] == 79990
