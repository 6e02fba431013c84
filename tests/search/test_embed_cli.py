"""``paperwire embed`` end to end: incremental, resumable after kill -9, and the stored vectors.

Every CLI run shares one converted model (``PAPERWIRE_MODEL_DIR``), so only the
first test run ever builds it.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from paperwire.search.encoder import MODEL_ID

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"
MODEL_DIR = str(Path(os.environ.get("PAPERWIRE_MODEL_DIR") or ROOT / ".cache" / "models"))
ENV = {"PAPERWIRE_MODEL_DIR": MODEL_DIR}


def write_jsonl(path: Path, count: int, *, version: int | None = None, edit: dict | None = None):
    """The first ``count`` sample papers as paperwire-jsonl; ``edit`` maps id -> new abstract."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        items = [item["paper"] for item in json.load(fh)][:count]
    with open(path, "w", encoding="utf-8") as out:
        for p in items:
            rec = {
                "id": p["id"],
                "title": p["title"],
                "abstract": (edit or {}).get(p["id"], p["summary"]),
                "authors": [a["name"] for a in p["authors"]],
                "announced": p["publishedAt"][:10],
            }
            if version is not None:
                rec["version"] = version
            out.write(json.dumps(rec) + "\n")
    return [p["id"] for p in items]


def stored(home: Path) -> dict[str, tuple[str, str]]:
    """paper_id -> (content_hash, embedded_at), read straight from SQLite."""
    with sqlite3.connect(home / "paperwire.db") as conn:
        rows = conn.execute("SELECT paper_id, content_hash, embedded_at FROM paper_embeddings")
        return {pid: (h, at) for pid, h, at in rows}


def embed(run_cli, *args: str) -> dict:
    res = run_cli("embed", "--json", "--no-progress", *args, env=ENV)
    assert res.returncode == 0, res.stderr
    return res.json()


def test_embeds_everything_once_then_only_changes(run_cli, home: Path, tmp_path: Path) -> None:
    ids = write_jsonl(tmp_path / "a.jsonl", 8)
    assert run_cli("import", "--no-index", str(tmp_path / "a.jsonl")).returncode == 0

    first = embed(run_cli, "--batch-size", "3")
    assert first["embedded"] == 8 and first["pending"] == 0 and first["model_id"] == MODEL_ID
    before = stored(home)
    assert sorted(before) == sorted(ids)

    assert embed(run_cli)["embedded"] == 0
    assert stored(home) == before

    changed = ids[3]
    write_jsonl(tmp_path / "b.jsonl", 8, version=2, edit={changed: "A rewritten abstract."})
    assert run_cli("import", "--no-index", str(tmp_path / "b.jsonl")).returncode == 0
    assert embed(run_cli)["embedded"] == 1
    after = stored(home)
    assert {pid for pid in ids if after[pid] != before[pid]} == {changed}


def test_limit_and_human_summary(run_cli, home: Path, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", 6)
    assert run_cli("import", "--no-index", str(tmp_path / "a.jsonl")).returncode == 0
    res = run_cli("embed", "--limit", "2", "--no-progress", env=ENV)
    assert res.returncode == 0, res.stderr
    assert "embedded 2 papers" in res.stdout and "4 pending" in res.stdout
    assert len(stored(home)) == 2


@pytest.mark.parametrize(
    ("papers", "batch"),
    [(20, 2), (160, 64)],  # 64 papers make two encoder batches, encoded side by side
    ids=["small-batches", "batches-side-by-side"],
)
def test_kill_9_midway_then_rerun_finishes_each_paper_once(
    run_cli, home: Path, tmp_path: Path, papers: int, batch: int
) -> None:
    write_jsonl(tmp_path / "a.jsonl", papers)
    assert run_cli("import", "--no-index", str(tmp_path / "a.jsonl")).returncode == 0
    env = {**os.environ, "PAPERWIRE_HOME": str(home), **ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "embed", "--batch-size", str(batch), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while not stored(home) and time.monotonic() < deadline:  # wait for a first commit
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    survived = stored(home)
    assert 0 < len(survived) < papers, "the run was not interrupted midway"

    rerun = embed(run_cli)
    assert rerun["embedded"] == papers - len(survived) and rerun["pending"] == 0
    final = stored(home)
    assert len(final) == papers
    assert {pid: final[pid] for pid in survived} == survived  # not embedded twice


def test_seed_export_and_load_vectors(run_cli, home: Path, tmp_path: Path, db) -> None:
    """The bundled demo vectors match the sample as imported, and round-trip through files."""
    from sqlalchemy import delete, update

    from paperwire.db.schema.catalog import papers
    from paperwire.db.schema.search import paper_embeddings
    from paperwire.search.embeddings import (
        SAMPLE_EMBEDDINGS,
        count_pending,
        export_embeddings,
        load_vectors,
        read_embeddings_file,
        seed_embeddings,
    )

    assert run_cli("import", "--no-index", str(SAMPLE)).returncode == 0
    assert seed_embeddings(db, SAMPLE_EMBEDDINGS, model_id="another-model") == 0
    assert seed_embeddings(db, SAMPLE_EMBEDDINGS) == 753  # every content hash matches
    assert seed_embeddings(db, SAMPLE_EMBEDDINGS) == 0
    assert count_pending(db, MODEL_ID) == 0

    ids, matrix = load_vectors(db, MODEL_ID)
    assert len(ids) == 753 and matrix.shape == (753, 384) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=2e-3)
    some = [ids[5], ids[7], "not-a-paper"]
    sub_ids, sub = load_vectors(db, MODEL_ID, ids=some)
    assert sorted(sub_ids) == sorted(some[:2])
    np.testing.assert_array_equal(sub[sub_ids.index(ids[7])], matrix[7])

    # A paper whose text changed has a stale vector: not loaded, pending, not exported.
    with db.begin() as conn:
        conn.execute(update(papers).where(papers.c.id == ids[0]).values(content_hash="0" * 32))
    assert ids[0] not in load_vectors(db, MODEL_ID)[0]
    assert count_pending(db, MODEL_ID) == 1
    out = tmp_path / "export.npz"
    assert export_embeddings(db, out) == 752
    data = read_embeddings_file(out)
    assert data.model_id == MODEL_ID and data.vectors.dtype == np.float16

    with db.begin() as conn:
        conn.execute(delete(paper_embeddings))
    assert seed_embeddings(db, out) == 752
    assert count_pending(db, MODEL_ID) == 1
    with db.begin() as conn:  # deleting a paper deletes its vector
        conn.execute(delete(papers).where(papers.c.id == ids[1]))
    assert ids[1] not in load_vectors(db, MODEL_ID)[0]
    with db.connect() as conn:
        assert (
            conn.execute(
                paper_embeddings.select().where(paper_embeddings.c.paper_id == ids[1])
            ).first()
            is None
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'paperwire.db'}"
    return request.getfixturevalue("postgres_url")


def test_stored_vectors_are_each_papers_own(run_cli, tmp_path: Path, database_url: str) -> None:
    """70 papers in one embed batch: three encoder calls, two of them side by side.

    Each stored vector must belong to its own paper (not a neighbour's: rows are
    reordered by length inside the encoder) and equal what a sequential run of
    the same encoder gives.
    """
    from sqlalchemy import select

    from paperwire.db import Database
    from paperwire.db.schema.catalog import papers
    from paperwire.search.embeddings import load_vectors
    from paperwire.search.encoder import document_text, load_encoder

    env = {**ENV, "PAPERWIRE_DATABASE_URL": database_url}
    write_jsonl(tmp_path / "a.jsonl", 70)
    assert run_cli("import", "--no-index", str(tmp_path / "a.jsonl"), env=env).returncode == 0
    res = run_cli("embed", "--json", "--no-progress", env=env)
    assert res.returncode == 0, res.stderr
    assert res.json()["embedded"] == 70

    db = Database(database_url)
    try:
        ids, stored_vectors = load_vectors(db, MODEL_ID)
        with db.connect() as conn:
            c = papers.c
            rows = conn.execute(select(c.id, c.title, c.abstract).order_by(c.id)).all()
    finally:
        db.dispose()
    assert sorted(ids) == [r[0] for r in rows]
    texts = [document_text(r[1], r[2]) for r in rows]
    encoder = load_encoder(Path(MODEL_DIR))
    expected = encoder.encode(texts)  # the same window, in the same (id) order, as embed
    position = {pid: i for i, pid in enumerate(ids)}
    stored_vectors = stored_vectors[[position[r[0]] for r in rows]]
    np.testing.assert_allclose(stored_vectors, expected, atol=2e-3)  # float16 storage
    alone = np.stack([encoder.encode_query(t) for t in texts])  # each paper by itself
    similarity = stored_vectors @ alone.T
    assert (similarity.argmax(axis=1) == np.arange(len(texts))).all()
    assert similarity.diagonal().min() > 0.98


@pytest.mark.parametrize("bad", ["0", "-3", "x"])
def test_rejects_bad_batch_size(run_cli, bad: str) -> None:
    res = run_cli("embed", "--batch-size", bad, env=ENV)
    assert res.returncode == 2
