"""Embed the shared arXiv corpus once, for search relevance and latency benchmarks.

    .venv/bin/python bench/embed_corpus.py            # resumable; prints progress
    .venv/bin/python bench/embed_corpus.py --load     # put the vectors into $PAPERWIRE_HOME

Reads ``../shared/data/arxiv-cs-2025-2026.jsonl.gz`` through Paperwire's own
source reader (so titles and abstracts are cleaned exactly as the catalog
stores them) and embeds ``document_text(title, abstract)`` with the project's
encoder.  Output, under the git-ignored ``.cache/embeddings/``:

- ``arxiv-cs-2025-2026/chunk-NNNNN.npz``: one file per ``--chunk`` papers,
  written atomically; a re-run skips finished chunks (kill it at any time);
- ``arxiv-cs-2025-2026.npz``: all chunks merged, in the format of
  :func:`paperwire.search.embeddings.write_embeddings_file` (``ids``,
  ``content_hashes``, float16 ``vectors`` (n, 384), ``model_id``), written when
  every chunk is done.

``content_hashes`` are :func:`paperwire.catalog.record.content_hash` of the
normalised record, i.e. what ``papers.content_hash`` holds after
``paperwire import`` of the same file; ``--load`` (or
:func:`paperwire.search.embeddings.seed_embeddings`) stores the vectors of
every imported paper whose hash matches.  Converted models are cached in
``.cache/models`` unless ``PAPERWIRE_MODEL_DIR`` says otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paperwire.catalog.record import PaperRecord, content_hash  # noqa: E402
from paperwire.search.embeddings import (  # noqa: E402
    read_embeddings_file,
    write_embeddings_file,
)
from paperwire.search.encoder import document_text, load_encoder  # noqa: E402
from paperwire.sources import open_source  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "arxiv-cs-2025-2026.jsonl.gz"
OUT = ROOT / ".cache" / "embeddings"


def records(path: Path) -> Iterator[PaperRecord]:
    _, stream, _ = open_source(path)
    for item in stream:
        if isinstance(item, PaperRecord):
            yield item


def chunked(items: Iterator[PaperRecord], size: int) -> Iterator[list[PaperRecord]]:
    chunk: list[PaperRecord] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def embed(source: Path, out: Path, chunk_size: int, limit: int | None, precision: str) -> Path:
    model_dir = Path(os.environ.get("PAPERWIRE_MODEL_DIR") or ROOT / ".cache" / "models")
    encoder = load_encoder(model_dir, precision)  # type: ignore[arg-type]
    name = source.name.removesuffix(".gz").removesuffix(".jsonl")
    parts = out / name
    parts.mkdir(parents=True, exist_ok=True)
    started, embedded, total = time.perf_counter(), 0, 0
    files: list[Path] = []
    stream = records(source)
    if limit is not None:
        stream = itertools.islice(stream, limit)
    for n, chunk in enumerate(chunked(stream, chunk_size)):
        total += len(chunk)
        path = parts / f"chunk-{n:05d}.npz"
        files.append(path)
        if path.exists():
            try:
                done = read_embeddings_file(path)
                if done.model_id == encoder.model_id and list(done.ids) == [r.id for r in chunk]:
                    continue
            except (OSError, ValueError, KeyError):
                pass  # unreadable: embed it again
        t0 = time.perf_counter()
        vectors = encoder.encode([document_text(r.title, r.abstract) for r in chunk])
        write_embeddings_file(
            path,
            [r.id for r in chunk],
            [content_hash(r.title or r.id, r.abstract, r.authors) for r in chunk],
            vectors,
            encoder.model_id,
        )
        embedded += len(chunk)
        rate = len(chunk) / (time.perf_counter() - t0)
        print(
            f"{time.strftime('%H:%M:%S')} chunk {n:5d}: {total:6d} papers seen, "
            f"{len(chunk) / max(rate, 1e-9):6.1f}s at {rate:5.1f}/s, "
            f"{embedded} embedded this run in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
    merged = out / f"{name}.npz"
    pieces = [read_embeddings_file(p) for p in files]
    write_embeddings_file(
        merged,
        np.concatenate([p.ids for p in pieces]),
        np.concatenate([p.content_hashes for p in pieces]),
        np.concatenate([p.vectors for p in pieces]),
        encoder.model_id,
    )
    print(f"done: {total} papers -> {merged} ({time.perf_counter() - started:.0f}s)", flush=True)
    return merged


def load(path: Path) -> None:
    """Seed $PAPERWIRE_HOME's paper_embeddings from the merged file (import the corpus first)."""
    from paperwire.config import load_settings
    from paperwire.db import open_database
    from paperwire.search.embeddings import seed_embeddings

    db = open_database(load_settings())
    t0 = time.perf_counter()
    n = seed_embeddings(db, path)
    print(f"stored {n} vectors from {path} in {time.perf_counter() - t0:.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--chunk", type=int, default=2000, help="papers per chunk file")
    ap.add_argument("--limit", type=int, default=None, help="only the first N papers")
    ap.add_argument("--precision", choices=["auto", "int8", "fp32"], default="auto")
    ap.add_argument("--load", action="store_true", help="seed $PAPERWIRE_HOME from the cache")
    args = ap.parse_args()
    name = args.source.name.removesuffix(".gz").removesuffix(".jsonl")
    if args.load:
        load(args.out / f"{name}.npz")
        return
    if not args.source.exists():
        sys.exit(f"{args.source} not found (see ../shared/data/README.md)")
    embed(args.source, args.out, args.chunk, args.limit, args.precision)


if __name__ == "__main__":
    main()
