"""Paper embeddings in the catalog database, computed incrementally.

A paper's row in ``paper_embeddings`` is *current* when it was made by the
encoder's ``model_id`` from the paper's current ``content_hash``.  Everything
else is *pending*: :func:`embed_pending` computes exactly those, one committed
transaction per batch, so a killed run resumes where it stopped and an
unchanged paper is never embedded twice.

Vectors are stored as little-endian float16 (see ``db/schema/search.py``) and
returned as float32.  Precomputed vectors travel as ``.npz`` files (see
:func:`write_embeddings_file`): the demo sample ships one, the benchmark corpus
cache uses the same format, and :func:`seed_embeddings` loads either.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select
from tqdm import tqdm

from ..db import Database, chunks
from ..db.schema.catalog import papers
from ..db.schema.search import paper_embeddings
from .atomic import atomic_file
from .encoder import Encoder, document_text

VECTOR_DTYPE = np.dtype("<f2")
FILE_FORMAT = "paperwire-embeddings/1"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_EMBEDDINGS = SAMPLES / "hf-daily-papers.embeddings.npz"  # for the bundled demo sample
EMBED_BATCH = 256  # papers per transaction: the most work a kill -9 can lose
_IN_CHUNK = 900  # bound parameters per IN (SQLite's limit is 999 on old builds)
_READ_CHUNK = 20_000

E, P = paper_embeddings.c, papers.c


def pack(vector: np.ndarray) -> bytes:
    """One vector as the stored BLOB."""
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


def unpack(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored BLOBs (all of one dimension) as a float32 matrix."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    flat = np.frombuffer(b"".join(blobs), dtype=VECTOR_DTYPE)
    return flat.reshape(len(blobs), -1).astype(np.float32)


# -- computing ---------------------------------------------------------------


def _pending_filter(model_id: str) -> Any:
    return or_(E.paper_id.is_(None), E.model_id != model_id, E.content_hash != P.content_hash)


def _joined() -> Any:
    return papers.outerjoin(paper_embeddings, E.paper_id == P.id)


def count_pending(db: Database, model_id: str) -> int:
    """Papers whose vector is missing, from another model, or of older text."""
    with db.connect() as conn:
        stmt = select(func.count()).select_from(_joined()).where(_pending_filter(model_id))
        return int(conn.execute(stmt).scalar_one())


def embed_pending(
    db: Database,
    encoder: Encoder,
    *,
    batch_size: int = EMBED_BATCH,
    limit: int | None = None,
    progress: bool | None = None,
) -> int:
    """Embed every pending paper (at most ``limit``); returns how many were embedded.

    Papers are visited in id order with a keyset cursor, so each batch query
    is cheap however large the catalog, and each batch is committed on its own.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model_id = encoder.model_id
    total = count_pending(db, model_id)
    if limit is not None:
        total = min(total, limit)
    done = 0
    after = ""
    with tqdm(
        total=total,
        unit="paper",
        desc="embed",
        disable=(not progress) if progress is not None else None,
        file=sys.stderr,
    ) as bar:
        while done < total:
            size = min(batch_size, total - done)
            with db.connect() as conn:
                rows = conn.execute(
                    select(P.id, P.title, P.abstract, P.content_hash)
                    .select_from(_joined())
                    .where(_pending_filter(model_id), P.id > after)
                    .order_by(P.id)
                    .limit(size)
                ).all()
            if not rows:
                break
            vectors = encoder.encode([document_text(r.title, r.abstract) for r in rows])
            now = datetime.now(UTC)
            with db.begin() as conn:
                db.upsert(
                    conn,
                    paper_embeddings,
                    [
                        {
                            "paper_id": r.id,
                            "model_id": model_id,
                            "content_hash": r.content_hash,
                            "vector": pack(v),
                            "embedded_at": now,
                        }
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                    key=["paper_id"],
                    update=["model_id", "content_hash", "vector", "embedded_at"],
                )
            after = rows[-1].id
            done += len(rows)
            bar.update(len(rows))
    return done


# -- reading -----------------------------------------------------------------


def load_vectors(
    db: Database, model_id: str, ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Current vectors of ``model_id`` (all, or those of ``ids``) as float32 ``(n, dim)``.

    Only vectors matching the paper's current text are returned.  Rows are read
    in chunks of float16, so a million papers need about 1.5 GB for the result
    and little beyond it.  The order is unspecified, but ``ids[i]`` is row ``i``.
    """
    base = (
        select(E.paper_id, E.vector)
        .select_from(
            paper_embeddings.join(
                papers, and_(P.id == E.paper_id, P.content_hash == E.content_hash)
            )
        )
        .where(E.model_id == model_id)
    )
    out_ids: list[str] = []
    parts: list[np.ndarray] = []
    with db.connect() as conn:
        if ids is None:
            statements = [base]
        else:
            unique = list(dict.fromkeys(ids))
            statements = [base.where(E.paper_id.in_(c)) for c in chunks(unique, _IN_CHUNK)]
        for stmt in statements:
            result = conn.execution_options(stream_results=True, yield_per=_READ_CHUNK).execute(
                stmt
            )
            for chunk in result.partitions(_READ_CHUNK):
                out_ids.extend(r[0] for r in chunk)
                parts.append(np.frombuffer(b"".join(r[1] for r in chunk), dtype=VECTOR_DTYPE))
    if not out_ids:
        return [], np.zeros((0, 0), dtype=np.float32)
    dim = sum(p.size for p in parts) // len(out_ids)
    matrix = np.empty((len(out_ids), dim), dtype=np.float32)
    row = 0
    for part in parts:
        n = part.size // dim
        matrix[row : row + n] = part.reshape(n, dim)
        row += n
    return out_ids, matrix


# -- files -------------------------------------------------------------------


@dataclass
class EmbeddingsFile:
    """Precomputed vectors: paper ids, the content hash each was made from, one model."""

    ids: np.ndarray  # str
    content_hashes: np.ndarray  # str
    vectors: np.ndarray  # float16 (n, dim)
    model_id: str


def write_embeddings_file(
    path: Path,
    ids: Sequence[str],
    content_hashes: Sequence[str],
    vectors: np.ndarray,
    model_id: str,
) -> None:
    """Write an ``.npz`` (keys: format, model_id, ids, content_hashes, vectors) atomically."""
    vectors = np.asarray(vectors, dtype=VECTOR_DTYPE)
    if not (len(ids) == len(content_hashes) == len(vectors)):
        raise ValueError("ids, content_hashes and vectors must have the same length")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        np.savez_compressed(
            fh,
            format=np.array(FILE_FORMAT),
            model_id=np.array(model_id),
            ids=np.array(list(ids), dtype=str),
            content_hashes=np.array(list(content_hashes), dtype=str),
            vectors=vectors.reshape(len(ids), -1),
        )


def read_embeddings_file(path: Path) -> EmbeddingsFile:
    """Read a file written by :func:`write_embeddings_file` (no pickles are loaded)."""
    with np.load(path, allow_pickle=False) as data:
        if str(data["format"]) != FILE_FORMAT:
            raise ValueError(f"{path}: not a {FILE_FORMAT} file")
        return EmbeddingsFile(
            ids=data["ids"],
            content_hashes=data["content_hashes"],
            vectors=data["vectors"],
            model_id=str(data["model_id"]),
        )


def seed_embeddings(
    db: Database, path: Path, *, model_id: str | None = None, batch_size: int = 5000
) -> int:
    """Store precomputed vectors for papers whose content hash still matches.

    Returns how many rows were written.  Papers that already have a current
    vector are left alone, so seeding twice writes nothing; with ``model_id``,
    a file from another model is ignored.  Used for the demo sample and for the
    benchmark corpus cache (after importing the corpus).
    """
    data = read_embeddings_file(path)
    if model_id is not None and data.model_id != model_id:
        return 0
    position = {str(pid): i for i, pid in enumerate(data.ids)}
    wanted: list[tuple[str, int]] = []
    with db.connect() as conn:
        for chunk in chunks(list(position), _IN_CHUNK):
            rows = conn.execute(
                select(P.id, P.content_hash, E.model_id, E.content_hash.label("stored"))
                .select_from(_joined())
                .where(P.id.in_(chunk))
            )
            for pid, current, stored_model, stored_hash in rows:
                i = position[pid]
                if str(data.content_hashes[i]) != current:
                    continue  # the paper changed since the file was made
                if stored_model == data.model_id and stored_hash == current:
                    continue  # already current
                wanted.append((pid, i))
    now = datetime.now(UTC)
    for chunk in chunks(wanted, batch_size):
        with db.begin() as conn:
            db.upsert(
                conn,
                paper_embeddings,
                [
                    {
                        "paper_id": pid,
                        "model_id": data.model_id,
                        "content_hash": str(data.content_hashes[i]),
                        "vector": pack(data.vectors[i]),
                        "embedded_at": now,
                    }
                    for pid, i in chunk
                ],
                key=["paper_id"],
                update=["model_id", "content_hash", "vector", "embedded_at"],
            )
    return len(wanted)


def export_embeddings(db: Database, path: Path, model_id: str | None = None) -> int:
    """Write the current vectors of ``model_id`` (default: the most common) to ``path``."""
    with db.connect() as conn:
        if model_id is None:
            model_id = conn.execute(
                select(E.model_id).group_by(E.model_id).order_by(func.count().desc()).limit(1)
            ).scalar()
        if model_id is None:
            raise ValueError("there are no embeddings to export")
        rows = conn.execute(
            select(E.paper_id, E.content_hash, E.vector)
            .select_from(
                paper_embeddings.join(
                    papers, and_(P.id == E.paper_id, P.content_hash == E.content_hash)
                )
            )
            .where(E.model_id == model_id)
            .order_by(E.paper_id)
        ).all()
    vectors = unpack([r[2] for r in rows]).astype(VECTOR_DTYPE)
    write_embeddings_file(path, [r[0] for r in rows], [r[1] for r in rows], vectors, model_id)
    return len(rows)
