"""Shared, module-scoped search fixtures: the bundled sample imported and indexed once.

The sample has no arXiv categories, so a second import (a paperwire-jsonl file)
adds deterministic ones; categories only fill empty fields, so everything else
stays as Hugging Face gave it.  ``FakeEncoder`` hashes words into 384
dimensions: it is no language model, but papers that share words get close
vectors, which is what the hybrid and similar-papers plumbing needs to be
tested without building the ONNX model.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "paperwire" / "samples" / "hf-daily-papers.json.gz"
SAMPLE_NPZ = ROOT / "paperwire" / "samples" / "hf-daily-papers.embeddings.npz"
MODEL_DIR = os.environ.get("PAPERWIRE_MODEL_DIR") or str(ROOT / ".cache" / "models")
DIM = 384


def sample_items() -> list[dict]:
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [item["paper"] for item in json.load(fh)]


def category_for(title: str, abstract: str) -> list[str]:
    """Deterministic categories so filters have something to work on."""
    text = f"{title} {abstract}".lower()
    if any(w in text for w in ("video", "image", "3d", "visual", "diffusion")):
        cats = ["cs.CV"]
    elif any(w in text for w in ("speech", "audio", "music")):
        cats = ["eess.AS"]
    else:
        cats = ["cs.CL"]
    if "reinforcement" in text or "agent" in text:
        cats.append("cs.LG")
    return cats


def write_categories(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for p in sample_items():
            rec = {
                "id": p["id"],
                "title": p["title"],
                "categories": category_for(p["title"], p["summary"]),
            }
            fh.write(json.dumps(rec) + "\n")
    return path


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAPERWIRE_HOME": str(home)}
    env.pop("PAPERWIRE_DATABASE_URL", None)
    env.pop("PAPERWIRE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "paperwire", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


class FakeEncoder:
    """Hashed bag of words, L2-normalised: cheap, deterministic, word-overlap similar."""

    model_id = "all-MiniLM-L6-v2"
    dim = DIM

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % DIM] += 1.0 if (h >> 16) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else 0
            if not norm:
                out[i, 0] = 1.0
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def fake_vectors(db, model_id, ids=None):
    """Stand-in for ``embeddings.load_vectors``: FakeEncoder vectors of catalog papers."""
    from sqlalchemy import select

    from paperwire.db.schema.catalog import papers

    with db.connect() as conn:
        stmt = select(papers.c.id, papers.c.title, papers.c.abstract).order_by(papers.c.id)
        rows = [r for r in conn.execute(stmt) if ids is None or r.id in set(ids)]
    enc = FakeEncoder()
    return [r.id for r in rows], enc.encode([f"{r.title}. {r.abstract}" for r in rows])


def settings_for(home: Path):
    """Settings of ``home``, sharing the converted encoder (built once per model dir)."""
    from paperwire.config import load_settings

    return load_settings({"PAPERWIRE_HOME": str(home), "PAPERWIRE_MODEL_DIR": MODEL_DIR})


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home with the sample imported (with categories) and indexed by the CLI."""
    home = tmp_path_factory.mktemp("search-home")
    proc = cli(home, "import", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    cats = write_categories(home / "categories.jsonl")
    proc = cli(home, "import", "--format", "paperwire-jsonl", str(cats))
    assert proc.returncode == 0, proc.stderr
    yield home


@pytest.fixture(scope="module")
def vector_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample with categories and FakeEncoder vectors, indexed in-process."""
    from paperwire.db import open_database
    from paperwire.db.database import close_all
    from paperwire.search import indexing

    home = tmp_path_factory.mktemp("vector-home")
    assert cli(home, "import", "--no-index", str(SAMPLE)).returncode == 0
    cats = write_categories(home / "categories.jsonl")
    assert (
        cli(home, "import", "--no-index", "--format", "paperwire-jsonl", str(cats)).returncode == 0
    )
    mp = pytest.MonkeyPatch()
    mp.setattr(indexing, "_embedding_vectors", _fake_embedding_vectors)
    settings = settings_for(home)
    indexing.rebuild(settings, open_database(settings))
    yield home
    mp.undo()
    close_all()


def _fake_embedding_vectors(db, model_id, ids=None):
    found, matrix = fake_vectors(db, model_id, ids)
    return found, matrix


@pytest.fixture(scope="module")
def real_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bundled sample with its real (precomputed) embeddings, indexed by the CLI."""
    import json

    from paperwire.db import open_database
    from paperwire.db.database import close_all
    from paperwire.search.embeddings import seed_embeddings

    home = tmp_path_factory.mktemp("real-home")
    os.environ.setdefault("PAPERWIRE_MODEL_DIR", MODEL_DIR)
    assert cli(home, "import", "--no-index", str(SAMPLE)).returncode == 0
    assert seed_embeddings(open_database(settings_for(home)), SAMPLE_NPZ) == 753
    close_all()
    proc = cli(home, "reindex", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["vectors"] == 753
    yield home
