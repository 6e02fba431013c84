"""Shared, module-scoped search fixtures: the bundled sample imported and indexed once.

Every home fixture (``sample_home``, ``vector_home``, ``real_home``) is
parametrised over the two deployments: **sqlite** (embedded: index files under
the home) and **postgres** (server mode: a database of its own on the session's
PostgreSQL, named in the home's ``config.toml``, the index in that database).
So each test that uses one runs against both search backends, through the same
CLI and the same :func:`service_for`.

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

from tests.conftest import SERVER_SECRET_KEY, create_database

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


def is_postgres(home: Path) -> bool:
    from paperwire.config import is_server_mode

    return is_server_mode(settings_for(home).database_url)


def service_for(home: Path, encoder=None, ranking=None):
    """The search backend the site would use for ``home`` (with an encoder of our choice)."""
    from paperwire.search.fusion import DEFAULT

    settings = settings_for(home)
    if is_postgres(home):
        from paperwire.search.postgres import PostgresSearch

        return PostgresSearch(settings, encoder=encoder, ranking=ranking or DEFAULT)
    from paperwire.search.service import SearchService

    return SearchService(settings, encoder=encoder, ranking=ranking or DEFAULT)


def new_home(
    tmp_path_factory: pytest.TempPathFactory, request, kind: str, name: str, *, sample: bool = False
) -> Path:
    """An empty home (with ``sample``: the bundled sample imported, ``import --no-index``).

    For ``postgres`` its config names a fresh database (a copy of one that has
    the sample, when asked for).
    """
    home = tmp_path_factory.mktemp(name)
    if kind == "postgres":
        server = request.getfixturevalue("postgres_server")
        template = request.getfixturevalue("pg_sample_template") if sample else None
        url = create_database(server, name, template)
        # Server mode needs one signing key shared by every instance.
        (home / "config.toml").write_text(
            f'[paperwire]\ndatabase_url = "{url}"\nsecret_key = "{SERVER_SECRET_KEY}"\n'
        )
    elif sample:
        proc = cli(home, "import", "--no-index", str(SAMPLE))
        assert proc.returncode == 0, proc.stderr
    return home


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend_kind(request) -> str:
    """Which deployment the module's homes use (each module runs once per kind)."""
    return request.param


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory, request, backend_kind) -> Iterator[Path]:
    """A home with the sample imported (with categories) and indexed by the CLI."""
    home = new_home(tmp_path_factory, request, backend_kind, "search-home")
    proc = cli(home, "import", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    cats = write_categories(home / "categories.jsonl")
    proc = cli(home, "import", "--format", "paperwire-jsonl", str(cats))
    assert proc.returncode == 0, proc.stderr
    yield home


def store_fake_vectors(db) -> int:
    """FakeEncoder vectors of every catalog paper, stored as ``paperwire embed`` would."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from paperwire.db.schema.catalog import papers
    from paperwire.db.schema.search import paper_embeddings
    from paperwire.search.embeddings import pack

    with db.connect() as conn:
        rows = conn.execute(
            select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.content_hash)
        ).all()
    vectors = FakeEncoder().encode([f"{r.title}. {r.abstract}" for r in rows])
    now = datetime.now(UTC)
    with db.begin() as conn:
        db.upsert(
            conn,
            paper_embeddings,
            [
                {
                    "paper_id": r.id,
                    "model_id": FakeEncoder.model_id,
                    "content_hash": r.content_hash,
                    "vector": pack(v),
                    "embedded_at": now,
                }
                for r, v in zip(rows, vectors, strict=True)
            ],
            key=["paper_id"],
            update=["model_id", "content_hash", "vector", "embedded_at"],
        )
    return len(rows)


@pytest.fixture(scope="module")
def vector_home(tmp_path_factory: pytest.TempPathFactory, request, backend_kind) -> Iterator[Path]:
    """The sample with categories and stored FakeEncoder vectors, indexed."""
    from paperwire.db import open_database
    from paperwire.db.database import close_all

    home = new_home(tmp_path_factory, request, backend_kind, "vector-home", sample=True)
    cats = write_categories(home / "categories.jsonl")
    assert (
        cli(home, "import", "--no-index", "--format", "paperwire-jsonl", str(cats)).returncode == 0
    )
    settings = settings_for(home)
    db = open_database(settings)
    assert store_fake_vectors(db) == 753
    if not is_postgres(home):  # server mode indexed them as they were stored
        from paperwire.search import indexing

        indexing.rebuild(settings, db)
    yield home
    close_all()


def _fake_embedding_vectors(db, model_id, ids=None):
    found, matrix = fake_vectors(db, model_id, ids)
    return found, matrix


@pytest.fixture(scope="module")
def real_home(tmp_path_factory: pytest.TempPathFactory, request, backend_kind) -> Iterator[Path]:
    """The bundled sample with its real (precomputed) embeddings, indexed by the CLI."""
    import json

    from paperwire.db import open_database
    from paperwire.db.database import close_all
    from paperwire.search.embeddings import seed_embeddings

    home = new_home(tmp_path_factory, request, backend_kind, "real-home", sample=True)
    os.environ.setdefault("PAPERWIRE_MODEL_DIR", MODEL_DIR)
    assert seed_embeddings(open_database(settings_for(home)), SAMPLE_NPZ) == 753
    close_all()
    proc = cli(home, "reindex", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["vectors"] == 753
    yield home
