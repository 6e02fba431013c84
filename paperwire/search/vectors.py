"""The vector index: HNSW (usearch) over L2-normalised embeddings, inner product.

Why HNSW in usearch: at a million 384-d vectors an exact scan costs tens of
milliseconds per query on two cores, while HNSW answers in about a
millisecond with recall@10 above 0.95 (``bench/bench_search_latency.py``).
Vectors are stored as float16: half the memory of float32 for the same
recall on normalised embeddings.  Keys are the document table's paper keys.

Readers memory-map the file (``view``), so reloading after an update is cheap
and several processes share the pages.  Writers load the file, add/remove
vectors, and save a new file that is swapped in atomically by the caller.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

# onnxruntime must be loaded before usearch: importing it after usearch segfaults.
with contextlib.suppress(ImportError):
    import onnxruntime  # noqa: F401
from usearch.index import Index, MetricKind
from usearch.index import search as exact_search

CONNECTIVITY = 16
EXPANSION_ADD = 64
EXPANSION_SEARCH = 512
DTYPE = "f16"


def new_index(dim: int) -> Index:
    return Index(
        ndim=dim,
        metric="ip",
        dtype=DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def load_index(path: Path, *, view: bool) -> Index:
    """Open a saved index (memory-mapped when ``view``)."""
    index = Index.restore(str(path), view=view)
    if index is None:
        raise ValueError(f"not a vector index: {path}")
    index.expansion_search = EXPANSION_SEARCH
    return index


def save_index(index: Index, path: Path) -> None:
    """Write ``index`` to ``path`` and fsync it (the caller renames it into place)."""
    index.save(str(path))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def upsert(index: Index, keys: np.ndarray, vectors: np.ndarray, threads: int = 0) -> None:
    """Replace the vectors of ``keys`` (remove, then add)."""
    if len(keys) == 0:
        return
    keys = np.asarray(keys, dtype=np.uint64)
    remove(index, keys)
    index.add(keys, np.ascontiguousarray(vectors, dtype=np.float32), threads=threads)


def remove(index: Index, keys: np.ndarray) -> None:
    """Remove those of ``keys`` the index holds (unknown keys are ignored)."""
    if len(keys) == 0:
        return
    keys = np.asarray(keys, dtype=np.uint64)
    present = np.asarray(index.contains(keys), dtype=bool).reshape(-1)
    if present.any():
        index.remove(keys[present])


def search(index: Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (keys, cosine similarities) for one normalised query vector."""
    if len(index) == 0 or k <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.float32)
    matches = index.search(np.asarray(query, dtype=np.float32), min(k, len(index)))
    return np.asarray(matches.keys, np.uint64), 1.0 - np.asarray(matches.distances, np.float32)


def exact_top(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` rows of ``matrix`` (float16) by inner product: (row numbers, cosines).

    usearch's brute-force kernels read float16 directly; numpy would first
    convert every row to float32, which costs about six times the scan.
    """
    n = len(matrix)
    if n == 0 or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    matches = exact_search(
        np.ascontiguousarray(matrix, dtype=np.float16),
        np.asarray(query, dtype=np.float16),
        min(k, n),
        MetricKind.IP,
        exact=True,
        threads=1,
    )
    rows = np.asarray(matches.keys, np.int64)
    return rows, 1.0 - np.asarray(matches.distances, np.float32)
