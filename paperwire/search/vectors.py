"""The vector index: HNSW (usearch) over L2-normalised embeddings, inner product.

Why HNSW in usearch: at a million 384-d vectors an exact scan costs tens of
milliseconds per query on two cores, while HNSW answers in about a
millisecond with recall@10 above 0.95 (``bench/bench_search_latency.py``).
Vectors are stored as float16: half the memory of float32 for the same
recall on normalised embeddings.  Keys are the document table's paper keys.

Readers memory-map the file (``view``), so reloading after an update is cheap
and several processes share the pages.  Writers load the file, add/remove
vectors, and save a new file that is swapped in atomically by the caller.

HNSW has no predicate search in usearch's Python API, so a selective filter
(a category, a vote threshold) is answered from **binary codes** instead: one
bit per dimension, set where the vector is above the collection's mean.  The
Hamming distance between codes orders the allowed papers roughly by angle; the
``CODE_RERANK``-fold best are re-ranked by their exact float16 cosines.  At 1M
papers with a filter that lets 10% through, that is 4-6x faster than asking HNSW
for thousands of neighbours and dropping those that fail, and finds more of the
true nearest (``bench/bench_search_latency.py``).
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


# Filtered vector search re-ranks this many times the wanted neighbours, taken by
# Hamming distance of their codes (recall@10 0.98 against exact at 1M papers).
CODE_RERANK = 20


def code_center(matrix: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """The mean vector, which the codes' bits are taken against (float32)."""
    total = np.zeros(matrix.shape[1], np.float64)
    for start in range(0, len(matrix), chunk):
        total += np.asarray(matrix[start : start + chunk], np.float32).sum(axis=0)
    return (total / max(len(matrix), 1)).astype(np.float32)


def binary_codes(matrix: np.ndarray, center: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """One bit per dimension (above ``center``), packed: (n, dim / 8) uint8."""
    dim = matrix.shape[1]
    codes = np.empty((len(matrix), (dim + 7) // 8), np.uint8)
    for start in range(0, len(matrix), chunk):
        block = np.asarray(matrix[start : start + chunk], np.float32)
        codes[start : start + chunk] = np.packbits(block > center, axis=1)
    return codes


def nearest_by_code(
    codes: np.ndarray, center: np.ndarray, positions: np.ndarray, query: np.ndarray, k: int
) -> np.ndarray:
    """The ``k`` of ``positions`` whose codes are closest to the query's (unordered).

    Ties at the cut go to the first of ``positions``, so the answer does not
    depend on how a partial sort happens to split them.
    """
    positions = np.asarray(positions, np.int64)
    if len(positions) <= k:
        return positions
    qcode = np.packbits(np.asarray(query, np.float32) > center)
    picked = np.take(codes, positions, axis=0)
    if picked.shape[1] % 8 == 0:  # eight bytes at a time
        picked, qcode = picked.view(np.uint64), qcode.view(np.uint64)
    counts = np.bitwise_count(picked ^ qcode)
    dist = counts[:, 0].astype(np.uint32)
    for j in range(1, counts.shape[1]):
        dist += counts[:, j]
    cut = np.partition(dist, k - 1)[k - 1]
    inside = np.flatnonzero(dist < cut)
    on_cut = np.flatnonzero(dist == cut)[: k - len(inside)]
    return positions[np.concatenate([inside, on_cut])]


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
