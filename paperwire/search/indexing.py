"""Derived search data: build, update and rebuild the index files from the catalog.

Layout of ``settings.index_dir`` (embedded mode)::

    state.json             the current generation: which files below are live
    keyword-<g>/           tantivy index (BM25; its own atomic commits)
    docs-<g>.npz           document table (key, id, day, upvotes, categories)
    vectors-<g>.usearch    HNSW graph over the embeddings (absent until `paperwire embed`)
    vectors-<g>.npz        the same vectors (float16, sorted by key) for exact re-ranking
    journal.json           ids of an update in flight (present only during one)
    .lock                  serialises writers (readers never lock)

Crash safety: an update writes new files under a new generation number and
then atomically replaces ``state.json`` (write, fsync, rename), so a reader
always sees a complete generation.  The tantivy index is updated in place but
commits atomically.  Before touching anything, the ids to update are written
to ``journal.json``; after a crash the next ``sync`` replays them (together
with every paper whose catalog ``seq`` is newer than the one recorded in
``state.json``).  Every step is idempotent, because keys are hashes of paper
ids: replaying lands on the same keys.  ``rebuild`` builds a complete new
generation beside the old one and swaps it in, so search keeps working while
it runs.  Nothing here is the source of truth: delete the folder and run
``paperwire reindex``.  (After incremental updates, BM25 statistics still
count replaced documents until tantivy merges segments, so near-ties can order
differently than after a rebuild; ``reindex`` itself is deterministic.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from ..config import Settings
from ..db import Database
from ..db.schema.catalog import papers
from . import vectors as vec
from .atomic import fsync_dir, write_atomic
from .doctable import DocTable, paper_keys
from .embeddings import load_vectors
from .encoder import model_id_for
from .keyword import KeywordIndex

FORMAT = 2  # 2: one BM25F text field, has-code, unique sort keys
STATE = "state.json"
JOURNAL = "journal.json"
ROW_COLUMNS = (
    papers.c.id,
    papers.c.title,
    papers.c.abstract,
    papers.c.authors,
    papers.c.categories,
    papers.c.listed_on,
    papers.c.submitted,
    papers.c.upvotes,
    papers.c.code_links,
    papers.c.content_hash,
    papers.c.seq,
)
Progress = Callable[[str, int, int], None]


# -- state ------------------------------------------------------------------
@dataclass
class State:
    """What ``state.json`` says is live."""

    generation: int = 0
    keyword: str | None = None
    docs: str | None = None
    vectors: str | None = None
    vector_matrix: str | None = None
    model_id: str | None = None
    dim: int | None = None
    catalog_seq: int = 0

    @classmethod
    def read(cls, index_dir: Path) -> State | None:
        try:
            data = json.loads((index_dir / STATE).read_text())
        except (OSError, ValueError):
            return None
        if data.get("format") != FORMAT:
            return None
        fields = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in fields.items() if v is not None})

    def write(self, index_dir: Path) -> None:
        data = {"format": FORMAT, **self.__dict__, "written_at": time.time()}
        write_atomic(index_dir / STATE, json.dumps(data, indent=2).encode())


@contextlib.contextmanager
def _writer_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _gc(index_dir: Path, state: State) -> None:
    """Remove files of older generations (open readers keep their mmaps on POSIX)."""
    live = {state.keyword, state.docs, state.vectors, state.vector_matrix}
    for path in index_dir.iterdir():
        name = path.name
        if name in live or name in (STATE, JOURNAL, ".lock") or name.startswith("."):
            continue
        if name.startswith(("keyword-", "docs-", "vectors-")):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


# -- catalog and embeddings -------------------------------------------------
def _rows(db: Database, ids: Sequence[str] | None = None, batch: int = 5000) -> Iterator[dict]:
    """Catalog rows for ``ids`` (all papers when None), in id order; hidden papers never."""
    with db.connect() as conn:
        if ids is None:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(
                select(*ROW_COLUMNS).where(papers.c.hidden_at.is_(None)).order_by(papers.c.id)
            )
            for row in result:
                yield dict(row._mapping)
            return
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            for row in conn.execute(
                select(*ROW_COLUMNS).where(papers.c.id.in_(chunk), papers.c.hidden_at.is_(None))
            ):
                yield dict(row._mapping)


def _catalog_seq(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(papers.c.seq), 0))).scalar() or 0)


def _ids_since(db: Database, seq: int) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(select(papers.c.id).where(papers.c.seq > seq)).scalars())


def _paper_count(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(papers)).scalar() or 0)


def current_model_id(settings: Settings) -> str:
    """The encoder's model id (no model is loaded)."""
    return str(model_id_for(settings))


def _embedding_vectors(
    db: Database, model_id: str | None, ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Current vectors (matching each paper's content hash) for ``ids`` or all papers."""
    if model_id is None:
        return [], np.zeros((0, 0), np.float32)
    found_ids, matrix = load_vectors(db, model_id, ids=list(ids) if ids is not None else None)
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        matrix = matrix.reshape(len(found_ids), -1)
    return list(found_ids), matrix


# -- vector files -------------------------------------------------------------
@dataclass
class VectorFiles:
    """Sorted keys, float16 vectors and their binary codes (``vectors.binary_codes``).

    The codes' center is the collection's mean when the file was first built;
    later merges keep it, so that every code in a file is taken against one.
    """

    keys: np.ndarray
    matrix: np.ndarray
    codes: np.ndarray | None = None
    center: np.ndarray | None = None

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> VectorFiles:
        """A generation's arrays: a directory of ``.npy`` files, memory-mapped when
        ``mmap`` (every process on the machine shares the pages, and a new generation
        opens at once), or an ``.npz`` written before them (read into memory)."""
        if path.is_dir():
            mode = "r" if mmap else None
            arrays = {
                name: np.load(path / f"{name}.npy", mmap_mode=mode, allow_pickle=False)
                for name in _ARRAYS
            }
            return cls(**arrays)
        data = np.load(path, allow_pickle=False)
        files = cls(keys=data["keys"], matrix=data["matrix"])
        if "codes" in data.files:
            files.codes, files.center = data["codes"], data["center"]
        return files

    def with_codes(self) -> VectorFiles:
        """This file with codes (a file written before they existed gets them now)."""
        if self.codes is not None and self.center is not None:
            return self
        center = vec.code_center(self.matrix)
        return VectorFiles(self.keys, self.matrix, vec.binary_codes(self.matrix, center), center)

    def save(self, path: Path) -> None:
        """Write the arrays into the directory ``path`` (fsynced, then renamed into place)."""
        files = self.with_codes()
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in _ARRAYS:
            with open(tmp / f"{name}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(getattr(files, name)), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        fsync_dir(tmp)
        if path.exists():  # a generation being written again after a crash
            shutil.rmtree(path)
        os.rename(tmp, path)
        fsync_dir(path.parent)

    def merged(self, keys: np.ndarray, vectors: np.ndarray, drop: np.ndarray) -> VectorFiles:
        """Upsert ``keys``/``vectors`` and remove ``drop``; result sorted by key."""
        remove = np.concatenate([np.asarray(keys, np.uint64), np.asarray(drop, np.uint64)])
        keep = ~np.isin(self.keys, remove)
        all_keys = np.concatenate([np.asarray(self.keys)[keep], np.asarray(keys, np.uint64)])
        dim = vectors.shape[1] if len(vectors) else self.matrix.shape[1]
        added = np.asarray(vectors, np.float16).reshape(-1, dim)
        all_vecs = np.concatenate([np.asarray(self.matrix)[keep], added])
        order = np.argsort(all_keys, kind="stable")
        if self.center is None or self.codes is None:  # new, or written before codes
            return VectorFiles(all_keys[order], np.ascontiguousarray(all_vecs[order])).with_codes()
        all_codes = np.concatenate(
            [np.asarray(self.codes)[keep], vec.binary_codes(added, self.center)]
        )
        return VectorFiles(
            all_keys[order],
            np.ascontiguousarray(all_vecs[order]),
            np.ascontiguousarray(all_codes[order]),
            self.center,
        )


_ARRAYS = ("keys", "matrix", "codes", "center")


def _arrays_name(name: str) -> str:
    """The vector arrays' directory beside the HNSW file ``name``."""
    return name[: -len(".usearch")] + ".arrays"


# -- public API -----------------------------------------------------------------
def rebuild(
    settings: Settings, db: Database, *, progress: Progress | None = None, threads: int = 0
) -> State:
    """Build every index from the catalog (+ embeddings) and swap it in atomically."""
    index_dir = settings.index_dir
    with _writer_lock(index_dir):
        old = State.read(index_dir) or State()
        gen = old.generation + 1
        state = _build_generation(settings, db, index_dir, gen, progress, threads)
        state.write(index_dir)
        (index_dir / JOURNAL).unlink(missing_ok=True)
        _gc(index_dir, state)
        return state


def _build_generation(
    settings: Settings,
    db: Database,
    index_dir: Path,
    gen: int,
    progress: Progress | None,
    threads: int,
) -> State:
    seq = _catalog_seq(db)
    model_id = current_model_id(settings)
    state = build_generation(
        index_dir,
        gen,
        _rows(db),
        total=_paper_count(db),
        vectors=lambda: _embedding_vectors(db, model_id),
        model_id=model_id,
        progress=progress,
        threads=threads,
    )
    state.catalog_seq = seq
    return state


def build_generation(
    index_dir: Path,
    gen: int,
    rows: Iterable[dict],
    *,
    total: int,
    vectors: Callable[[], tuple[list[str], np.ndarray]] | None,
    model_id: str | None,
    progress: Progress | None = None,
    threads: int = 0,
) -> State:
    """Write generation ``gen`` from catalog-shaped ``rows`` (also used by the benchmarks).

    ``vectors`` is called after the keyword pass, so rows and vectors are never
    both in memory as Python objects.  Returns the state to write.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    kw_name = f"keyword-{gen}"
    kw_path = index_dir / kw_name
    if kw_path.exists():
        shutil.rmtree(kw_path)
    kw = KeywordIndex(kw_path, create=True)
    writer = kw.writer(threads=max(1, threads or min(4, os.cpu_count() or 1)))
    rows_for_table: list[dict] = []
    done = 0
    for row in rows:
        writer.add_document(KeywordIndex.document(_key(row["id"]), row))
        rows_for_table.append(
            {
                "id": row["id"],
                "listed_on": row.get("listed_on"),
                "submitted": row.get("submitted"),
                "upvotes": row.get("upvotes"),
                "categories": row.get("categories"),
                "code_links": row.get("code_links"),
            }
        )
        done += 1
        if progress and done % 2000 == 0:
            progress("keyword", done, total)
    writer.commit()
    writer.wait_merging_threads()
    if progress:
        progress("keyword", done, total)
    table = DocTable.from_rows(rows_for_table)
    del rows_for_table
    docs_name = f"docs-{gen}.npz"
    table.save(index_dir / docs_name)
    state = State(generation=gen, keyword=kw_name, docs=docs_name)
    ids, matrix = vectors() if vectors is not None else ([], np.zeros((0, 0), np.float32))
    if len(ids):
        keys = paper_keys(ids)
        known = table.rows_of(keys) >= 0
        keys, matrix = keys[known], matrix[known]
        files = VectorFiles(np.zeros(0, np.uint64), np.zeros((0, matrix.shape[1]), np.float16))
        files = files.merged(keys, matrix, np.zeros(0, np.uint64))
        del matrix
        _write_vectors(index_dir, gen, files, state, model_id, progress, threads)
    return state


def _key(paper_id: str) -> int:
    return int(paper_keys([paper_id])[0])


def _write_vectors(
    index_dir: Path,
    gen: int,
    files: VectorFiles,
    state: State,
    model_id: str | None,
    progress: Progress | None,
    threads: int,
    base: Any | None = None,
    added: np.ndarray | None = None,
    removed: np.ndarray | None = None,
) -> None:
    """Write generation ``gen``'s vector files; incremental when ``base`` is given."""
    name = f"vectors-{gen}.usearch"
    dim = int(files.matrix.shape[1])
    if base is None:
        index = vec.new_index(dim)
        n = len(files.keys)
        step = 20000
        for i in range(0, n, step):
            index.add(
                files.keys[i : i + step],
                np.asarray(files.matrix[i : i + step], np.float32),
                threads=threads,
            )
            if progress:
                progress("vectors", min(i + step, n), n)
    else:
        index = base
        if removed is not None and len(removed):
            vec.remove(index, removed)
        if added is not None and len(added):
            rows = np.searchsorted(files.keys, added)
            vec.upsert(index, added, np.asarray(files.matrix[rows], np.float32), threads=threads)
    vec.save_index(index, index_dir / name)
    files.save(index_dir / _arrays_name(name))
    state.vectors = name
    state.vector_matrix = _arrays_name(name)
    state.model_id = model_id
    state.dim = dim


def sync(settings: Settings, db: Database, changed_ids: Sequence[str]) -> State:
    """Bring the indexes up to date for ``changed_ids`` (called after every import).

    Also catches up papers changed since the last sync (imports run with
    ``--no-index``, or a sync that crashed), using the catalog's ``seq``.
    """
    index_dir = settings.index_dir
    state = State.read(index_dir)
    if state is None or not state.keyword or not (index_dir / state.keyword).exists():
        return rebuild(settings, db)
    with _writer_lock(index_dir):
        state = State.read(index_dir) or state
        journal = index_dir / JOURNAL
        pending: list[str] = []
        if journal.exists():
            with contextlib.suppress(OSError, ValueError):
                pending = list(json.loads(journal.read_text()).get("ids", []))
        seq = _catalog_seq(db)
        ids = list(dict.fromkeys([*pending, *changed_ids, *_ids_since(db, state.catalog_seq)]))
        if not ids:
            return state
        write_atomic(journal, json.dumps({"ids": ids, "started": time.time()}).encode())
        _apply(settings, db, index_dir, state, ids, seq)
        journal.unlink(missing_ok=True)
        _gc(index_dir, state)
        return state


def _apply(
    settings: Settings, db: Database, index_dir: Path, state: State, ids: list[str], seq: int
) -> None:
    rows = {r["id"]: r for r in _rows(db, ids)}
    removed = [p for p in ids if p not in rows]
    # 1. keyword index: delete + add per id, one atomic commit.
    kw = KeywordIndex(index_dir / str(state.keyword))
    writer = kw.writer(threads=1)
    for pid in ids:
        writer.delete_documents_by_term("id", pid)
    for pid, row in rows.items():
        writer.add_document(KeywordIndex.document(_key(pid), row))
    writer.commit()
    writer.wait_merging_threads()
    # 2. document table and vectors: new generation files.
    gen = state.generation + 1
    old_table = DocTable.load(index_dir / str(state.docs)) if state.docs else DocTable()
    table = old_table.updated(list(rows.values()), removed)
    docs_name = f"docs-{gen}.npz"
    table.save(index_dir / docs_name)
    new_state = State(**{**state.__dict__})
    new_state.generation = gen
    new_state.docs = docs_name
    new_state.catalog_seq = max(seq, state.catalog_seq)
    model_id = current_model_id(settings)
    if state.vectors and state.vector_matrix and state.model_id == model_id:
        found, matrix = _embedding_vectors(db, model_id, list(rows))
        add_keys = paper_keys(found)
        drop = np.setdiff1d(paper_keys(ids), add_keys)
        files = VectorFiles.load(index_dir / state.vector_matrix, mmap=False)
        files = files.merged(add_keys, matrix, drop)
        base = vec.load_index(index_dir / state.vectors, view=False)
        _write_vectors(index_dir, gen, files, new_state, model_id, None, 0, base, add_keys, drop)
    elif model_id is not None:
        found, matrix = _embedding_vectors(db, model_id, list(rows))
        if found:  # first vectors, or the model changed: build from all embeddings
            _rebuild_vectors(db, index_dir, gen, new_state, table, model_id, None, 0)
    new_state.write(index_dir)
    state.__dict__.update(new_state.__dict__)


def _rebuild_vectors(
    db: Database,
    index_dir: Path,
    gen: int,
    state: State,
    table: DocTable,
    model_id: str,
    progress: Progress | None,
    threads: int,
) -> None:
    ids, matrix = _embedding_vectors(db, model_id)
    if not len(ids):
        state.vectors = state.vector_matrix = None
        return
    keys = paper_keys(ids)
    known = table.rows_of(keys) >= 0
    files = VectorFiles(np.zeros(0, np.uint64), np.zeros((0, matrix.shape[1]), np.float16))
    files = files.merged(keys[known], matrix[known], np.zeros(0, np.uint64))
    _write_vectors(index_dir, gen, files, state, model_id, progress, threads)


def sync_vectors(settings: Settings, db: Database, *, progress: Progress | None = None) -> State:
    """Add newly computed embeddings to the vector index (called after ``paperwire embed``)."""
    index_dir = settings.index_dir
    state = State.read(index_dir)
    if state is None or not state.keyword:
        return rebuild(settings, db, progress=progress)
    with _writer_lock(index_dir):
        state = State.read(index_dir) or state
        model_id = current_model_id(settings)
        if model_id is None:
            return state
        table = DocTable.load(index_dir / str(state.docs)) if state.docs else DocTable()
        gen = state.generation + 1
        new_state = State(**{**state.__dict__})
        new_state.generation = gen
        if not (state.vectors and state.vector_matrix and state.model_id == model_id):
            _rebuild_vectors(db, index_dir, gen, new_state, table, model_id, progress, 0)
        else:
            ids, matrix = _embedding_vectors(db, model_id)
            keys = paper_keys(ids)
            files = VectorFiles.load(index_dir / state.vector_matrix, mmap=False)
            known = table.rows_of(keys) >= 0
            missing = known & ~np.isin(keys, files.keys)
            stale = files.keys[~np.isin(files.keys, keys[known])]
            if not missing.any() and not len(stale):
                return state
            files = files.merged(keys[missing], matrix[missing], stale)
            base = vec.load_index(index_dir / state.vectors, view=False)
            _write_vectors(
                index_dir, gen, files, new_state, model_id, None, 0, base, keys[missing], stale
            )
        new_state.write(index_dir)
        _gc(index_dir, new_state)
        return new_state


def refresh_counts(settings: Settings, db: Database, ids: Sequence[str]) -> State | None:
    """Copy the current upvote counts of ``ids`` into the search index.

    Votes change ``papers.upvotes`` without an import, so nothing else would
    tell the index; without this, ``min_upvotes`` and ``sort=upvotes`` in
    search would lag until the next sync.  Only the keyword documents and the
    document table get a new generation: text and vectors did not change, so
    nothing is re-embedded and the vector files are kept.  A crash midway
    leaves the ids in the journal, which the next sync replays in full.
    """
    index_dir = settings.index_dir
    state = State.read(index_dir)
    if state is None or not state.keyword or not state.docs or not ids:
        return state
    if (index_dir / JOURNAL).exists():  # an interrupted update: the full path replays it
        return sync(settings, db, ids)
    with _writer_lock(index_dir):
        state = State.read(index_dir) or state
        table = DocTable.load(index_dir / str(state.docs))
        changed = []
        for row in _rows(db, list(dict.fromkeys(ids))):
            at = table.row_of_id(row["id"])
            if at >= 0 and int(table.upvotes[at]) != int(row.get("upvotes") or 0):
                changed.append(row)
        if not changed:
            return state
        journal = index_dir / JOURNAL
        write_atomic(journal, json.dumps({"ids": [r["id"] for r in changed]}).encode())
        writer = KeywordIndex(index_dir / str(state.keyword)).writer(threads=1)
        for row in changed:
            writer.delete_documents_by_term("id", row["id"])
            writer.add_document(KeywordIndex.document(_key(row["id"]), row))
        writer.commit()
        writer.wait_merging_threads()
        new_state = State(**{**state.__dict__})
        new_state.generation = state.generation + 1
        new_state.docs = f"docs-{new_state.generation}.npz"
        table.updated(changed, []).save(index_dir / new_state.docs)
        new_state.write(index_dir)
        journal.unlink(missing_ok=True)
        _gc(index_dir, new_state)
        return new_state
