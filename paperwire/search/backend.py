"""Search behind one narrow interface, whatever stores the index.

Everything outside :mod:`paperwire.search` (the web layer, the CLI, the inbox,
the pipeline) asks search for results and tells it what changed through
:class:`SearchBackend`, and nothing else.  :func:`get_backend` picks the
implementation from the database URL:

- embedded (SQLite): tantivy and usearch files under ``settings.index_dir``,
  brought up to date after each write (:mod:`paperwire.search.indexing`);
- server mode (PostgreSQL): the index lives in the database and is written in
  the same transaction as the catalog, so the ``*_changed`` calls have nothing
  left to do.

Why an interface rather than ``if postgres`` branches: the two implementations
must give the same answers (one shared test suite runs against both), and a
caller must never know which one it talks to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from ..config import Settings, is_server_mode
from ..db import Database
from .results import Hit, SearchResult

Progress = Callable[[str, int, int], None]


class SearchBackend(Protocol):
    """What the rest of Paperwire may ask of search."""

    def search(
        self,
        query: str,
        *,
        categories: list[str] | None = None,
        since: date | None = None,
        until: date | None = None,
        min_upvotes: int | None = None,
        has_code: bool = False,
        sort: str = "relevance",
        limit: int = 20,
        offset: int = 0,
    ) -> SearchResult:
        """One page of the query's result set (the same set on every page).

        Never raises on user input: problems go in ``message``.
        """
        ...

    def similar(self, paper_id: str, limit: int = 10, sort: str = "similarity") -> list[Hit]:
        """Nearest papers by meaning, excluding ``paper_id``; ``sort`` re-orders the closest."""
        ...

    def papers_changed(self, db: Database, ids: Sequence[str]) -> None:
        """Catalog rows of ``ids`` were written (import, sync, submission)."""
        ...

    def votes_changed(self, db: Database, ids: Sequence[str]) -> None:
        """Upvote counts of ``ids`` changed (votes, bans, deleted accounts)."""
        ...

    def embeddings_changed(self, db: Database) -> None:
        """New or replaced embeddings were stored (``paperwire embed``, the embed job)."""
        ...

    def rebuild(self, db: Database, *, progress: Progress | None = None) -> dict:
        """Rebuild every derived structure from the catalog; returns a summary."""
        ...


class EmbeddedSearch:
    """The embedded implementation: index files under ``settings.index_dir``."""

    def __init__(self, settings: Settings) -> None:
        from .service import SearchService

        self.settings = settings
        self.service = SearchService(settings)

    def search(self, query: str, **kwargs) -> SearchResult:  # type: ignore[no-untyped-def]
        return self.service.search(query, **kwargs)

    def similar(self, paper_id: str, limit: int = 10, sort: str = "similarity") -> list[Hit]:
        return self.service.similar(paper_id, limit=limit, sort=sort)

    def papers_changed(self, db: Database, ids: Sequence[str]) -> None:
        from . import indexing

        indexing.sync(self.settings, db, list(ids))

    def votes_changed(self, db: Database, ids: Sequence[str]) -> None:
        from . import indexing

        indexing.refresh_counts(self.settings, db, list(ids))

    def embeddings_changed(self, db: Database) -> None:
        from . import indexing

        indexing.sync_vectors(self.settings, db)

    def rebuild(self, db: Database, *, progress: Progress | None = None) -> dict:
        from . import indexing
        from .doctable import DocTable

        state = indexing.rebuild(self.settings, db, progress=progress)
        index_dir = self.settings.index_dir
        papers = len(DocTable.load(index_dir / str(state.docs))) if state.docs else 0
        vectors = 0
        if state.vector_matrix:
            vectors = len(indexing.VectorFiles.load(index_dir / state.vector_matrix).keys)
        return {
            "papers": papers,
            "vectors": vectors,
            "model_id": state.model_id,
            "generation": state.generation,
            "where": str(index_dir),
        }


_backends: dict[tuple[str, str], SearchBackend] = {}
_backends_lock = threading.Lock()


def get_backend(settings: Settings) -> SearchBackend:
    """This process's search backend for ``settings`` (one per home and database).

    PostgreSQL URLs get :class:`~paperwire.search.postgres.PostgresSearch`
    (the index in the database, shared by every instance); anything else the
    embedded index files under the home.
    """
    key = (str(settings.index_dir), settings.database_url)
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            if is_server_mode(settings.database_url):
                from .postgres import PostgresSearch

                backend = PostgresSearch(settings)
            else:
                backend = EmbeddedSearch(settings)
            _backends[key] = backend
        return backend
