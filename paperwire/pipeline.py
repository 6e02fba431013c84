"""What happens after new records arrive: catalog, search index, embeddings, listeners.

Every way papers come in (``paperwire import``, ``paperwire sync``, a user's
submission on the site, the harvesting jobs) goes through this module, so they
all leave the same derived data behind:

1. the records are upserted into the catalog (the source of truth), one
   transaction per batch or page, so a crash loses at most the batch in flight;
2. the search backend is told which papers changed (keyword index now);
3. pending papers are embedded and the backend is told that vectors changed
   (optional: a bulk import leaves this to ``paperwire embed`` or the embed job);
4. in-process listeners hear which ids changed (the web app drops its page cache).

Embedding never decides whether ingestion worked: when the model cannot be
loaded, the papers are still in the catalog and searchable by keywords, the
error is returned, and the next call (the embed job) embeds them.

Layering: above catalog, sources and search; below jobs, web and cli.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog.importer import ImportReport
from .catalog.importer import import_files as _import_files
from .catalog.record import PaperRecord
from .catalog.store import UpsertStats, upsert_records
from .catalog.sync import SyncReport
from .catalog.sync import run_sync as _run_sync
from .config import Settings
from .db import Database
from .search.backend import get_backend
from .sources.base import Problem, SyncPage

log = logging.getLogger(__name__)

Listener = Callable[[Sequence[str]], None]
STOPPABLE_BATCH = 32  # papers between two looks at ``should_stop`` (one encoder batch)
_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


@dataclass
class Embedded:
    """What one embedding pass did; ``error`` is set when the model could not be used."""

    embedded: int = 0
    pending: int = 0
    model_id: str = ""
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "embedded": self.embedded,
            "pending": self.pending,
            "model_id": self.model_id,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


# -- listeners ------------------------------------------------------------------------------


def add_listener(listener: Listener) -> None:
    """Call ``listener(ids)`` in this process whenever the pipeline changed papers."""
    with _listeners_lock:
        if listener not in _listeners:
            _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _notify(ids: Sequence[str]) -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(ids)
        except Exception:  # a listener's failure must not undo a committed import
            log.exception("pipeline listener %r failed", listener)


# -- the steps ------------------------------------------------------------------------------


def pending_embeddings(settings: Settings, db: Database) -> int:
    """Papers without a current vector (cheap enough for /healthz and status)."""
    from .search.embeddings import count_pending
    from .search.encoder import model_id_for

    return count_pending(db, model_id_for(settings))


def embed(
    settings: Settings,
    db: Database,
    *,
    batch_size: int | None = None,
    limit: int | None = None,
    progress: bool | None = False,
    should_stop: Callable[[], bool] | None = None,
) -> Embedded:
    """Embed the pending papers, then refresh the search backend's vectors.

    The model is loaded only when something is pending; a model that cannot be
    loaded (or fails while encoding) is reported in ``error``, never raised:
    whatever was embedded before the failure is committed and indexed.  With
    ``should_stop``, papers are embedded a small batch at a time and the work
    ends early once it says so (a shutdown waits for one batch, not the backlog).
    """
    from .search.embeddings import EMBED_BATCH, count_pending, embed_pending
    from .search.encoder import get_encoder, model_id_for

    started = time.perf_counter()
    result = Embedded(model_id=model_id_for(settings))
    result.pending = count_pending(db, result.model_id)
    if result.pending and limit != 0:
        try:
            encoder = get_encoder(settings)
            result.model_id = encoder.model_id
            if should_stop is None:
                result.embedded = embed_pending(
                    db,
                    encoder,
                    batch_size=batch_size or EMBED_BATCH,
                    limit=limit,
                    progress=progress,
                )
            else:
                while not should_stop() and (limit is None or result.embedded < limit):
                    size = STOPPABLE_BATCH if limit is None else min(STOPPABLE_BATCH, limit)
                    done = embed_pending(db, encoder, batch_size=size, limit=size)
                    result.embedded += done
                    if done < size:
                        break
        except Exception as exc:  # model missing, corrupt, out of memory...
            log.warning("embedding failed: %s", exc)
            result.error = f"embedding failed: {exc}"
        result.pending = count_pending(db, result.model_id)
    if result.embedded or (result.error and result.pending):
        # Batches committed before a failure are indexed too.
        get_backend(settings).embeddings_changed(db)
    result.seconds = time.perf_counter() - started
    return result


def catalog_changed(
    settings: Settings, db: Database, ids: Sequence[str], *, embed_new: bool = False
) -> Embedded | None:
    """Bring derived data up to date after ``ids`` were written to the catalog.

    The search backend also catches up on anything an earlier crashed run
    wrote without indexing (it tracks the catalog's change counter), so this is
    safe to call with an empty list.
    """
    get_backend(settings).papers_changed(db, list(ids))
    embedded = embed(settings, db) if embed_new else None
    if ids:
        _notify(ids)
    return embedded


def write(
    settings: Settings,
    db: Database,
    records: Sequence[PaperRecord],
    *,
    listings: Sequence[dict[str, Any]] = (),
    embed_new: bool = False,
) -> tuple[UpsertStats, Embedded | None]:
    """Upsert ``records`` (and their Hugging Face ``listings``) in one transaction, then
    update derived data for the papers that changed."""
    stats = upsert_records(db, records, listings=listings)
    changed = stats.changed_ids or []
    embedded = catalog_changed(settings, db, changed, embed_new=embed_new) if changed else None
    if embedded is None and embed_new:
        embedded = embed(settings, db)
    return stats, embedded


def import_files(
    settings: Settings,
    db: Database,
    paths: Iterable[Path],
    *,
    fmt: str | None = None,
    batch_size: int = 2000,
    progress: bool | None = None,
    index: bool = True,
    embed_new: bool = False,
) -> tuple[ImportReport, Embedded | None]:
    """Import files (see :func:`paperwire.catalog.importer.import_files`), then derived data."""
    report = _import_files(db, paths, fmt=fmt, batch_size=batch_size, progress=progress)
    embedded = None
    if index and (report.changed_ids or embed_new):
        embedded = catalog_changed(settings, db, report.changed_ids, embed_new=embed_new)
    return report, embedded


def sync(
    settings: Settings,
    db: Database,
    key: str,
    pages: Iterable[SyncPage],
    report: SyncReport,
    *,
    on_page: Callable[[SyncPage, SyncReport], None] | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    index: bool = True,
    embed_new: bool = False,
) -> Embedded | None:
    """Write a live source's pages (resumably, see :mod:`paperwire.catalog.sync`), then
    derived data, also when the source failed midway (the pages before it are kept)."""
    kwargs: dict[str, Any] = {"on_page": on_page}
    if on_problem is not None:
        kwargs["on_problem"] = on_problem
    try:
        _run_sync(db, key, pages, report, **kwargs)
    except BaseException:
        if index and report.changed_ids:
            try:  # index the pages that were kept; the source's failure is what to report
                catalog_changed(settings, db, report.changed_ids)
            except Exception:
                log.exception("could not index %d synced papers", len(report.changed_ids))
        raise
    if index and (report.changed_ids or embed_new):
        return catalog_changed(settings, db, report.changed_ids, embed_new=embed_new)
    return None


__all__ = [
    "Embedded",
    "add_listener",
    "catalog_changed",
    "embed",
    "import_files",
    "pending_embeddings",
    "remove_listener",
    "sync",
    "write",
]
