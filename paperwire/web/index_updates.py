"""Keeping derived data in step with what users do on the site.

Both functions run after the response has been sent (Starlette background
tasks), so a vote or a submission never waits for the index.  Failures are
logged and do not surface: the catalog row is what matters, and the next
harvest, the embed job or ``paperwire reindex`` repairs the index.
"""

from __future__ import annotations

import logging
import threading

from .. import pipeline
from ..config import Settings
from ..db import Database
from ..search.backend import get_backend

log = logging.getLogger(__name__)

_pending: set[str] = set()
_pending_lock = threading.Lock()
_refreshing = threading.Lock()


def after_submission(settings: Settings, db: Database, ids: list[str]) -> None:
    """Newly fetched papers through the pipeline: search index, then their embeddings."""
    try:
        embedded = pipeline.catalog_changed(settings, db, ids, embed_new=True)
    except Exception:
        log.exception("could not index submitted papers %s", ids)
        return
    if embedded is not None and embedded.error:
        log.warning("submitted papers %s not embedded yet: %s", ids, embedded.error)


def after_vote(settings: Settings, db: Database, paper_id: str) -> None:
    """Copy ``paper_id``'s new upvote count into the search index.

    Votes that arrive while a refresh runs are gathered into the next one, so
    a burst of votes costs a few index updates, not one each.
    """
    with _pending_lock:
        _pending.add(paper_id)
    while _refreshing.acquire(blocking=False):
        try:
            _drain(settings, db)
        finally:
            _refreshing.release()
        with _pending_lock:  # a vote may have arrived just as the drain ended
            if not _pending:
                return


def _drain(settings: Settings, db: Database) -> None:
    backend = get_backend(settings)
    while True:
        with _pending_lock:
            ids = sorted(_pending)
            _pending.clear()
        if not ids:
            return
        try:
            backend.votes_changed(db, ids)
        except Exception:
            log.exception("could not refresh upvote counts in the search index for %s", ids)
