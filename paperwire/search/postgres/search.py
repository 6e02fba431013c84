"""The server-mode search backend: every instance searches the same tables.

Nothing is cached that could disagree with the database for long: each search
reads the change counter (``search_version``, bumped in every writing
transaction) and the corpus statistics in one round trip, and reuses its view
(and the engine's result sets) only while the counter is unchanged.  So a
paper imported by another machine, or a vote cast through another instance, is
searched as soon as its transaction commits.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ...config import Settings
from ...db import Database, open_database
from ..engine import QueryEncoder, ResultSet, SearchEngine
from ..fusion import DEFAULT, Ranking
from ..keyword import Filters
from ..query import ParsedQuery
from ..results import Hit, SearchResult
from .view import PostgresView, Stats

DIM = 384  # search_docs.embedding is halfvec(384)


class PostgresSearch:
    """:class:`~paperwire.search.backend.SearchBackend` over the index in PostgreSQL."""

    def __init__(
        self,
        settings: Settings,
        encoder: Any | None = None,
        ranking: Ranking = DEFAULT,
        *,
        db: Database | None = None,
        model_id: str | None = None,
    ) -> None:
        from ..encoder import model_id_for

        self.settings = settings
        self._db = db
        self.model_id = model_id or str(model_id_for(settings))
        self._view: PostgresView | None = None
        self._lock = threading.Lock()
        self.engine = SearchEngine(self._snapshot, QueryEncoder(settings, encoder), ranking)

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self.settings)
        return self._db

    @property
    def ranking(self) -> Ranking:
        return self.engine.ranking

    # -- SearchBackend -----------------------------------------------------------
    def search(self, query: str, **kwargs: Any) -> SearchResult:
        return self.engine.search(query, **kwargs)

    def similar(self, paper_id: str, limit: int = 10, sort: str = "similarity") -> list[Hit]:
        return self.engine.similar(paper_id, limit=limit, sort=sort)

    def papers_changed(self, db: Database, ids: Sequence[str]) -> None:
        """Nothing to do: the triggers updated the index in the writing transaction."""

    def votes_changed(self, db: Database, ids: Sequence[str]) -> None:
        """Nothing to do: the triggers updated the index in the writing transaction."""

    def embeddings_changed(self, db: Database) -> None:
        """Nothing to do: the triggers updated the index in the writing transaction."""

    def rebuild(self, db: Database, *, progress: Any | None = None) -> dict:
        """Recompute every search row and statistic from the catalog (repair)."""
        with db.begin() as conn:
            papers = int(conn.exec_driver_sql("SELECT search_rebuild()").scalar() or 0)
            vectors = int(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM search_vectors WHERE model_id = %(m)s",
                    {"m": self.model_id},
                ).scalar()
                or 0
            )
        if progress:
            progress("papers", papers, papers)
        with self._lock:
            self._view = None
        return {
            "papers": papers,
            "vectors": vectors,
            "model_id": self.model_id if vectors else None,
            "generation": None,
            "where": "PostgreSQL (search_docs)",
        }

    # -- for the engine, tests and benchmarks --------------------------------------
    def result_set(self, parsed: ParsedQuery, filters: Filters) -> ResultSet:
        return self.engine.result_set(parsed, filters)

    def _snapshot(self) -> PostgresView:
        """The current view: a new one whenever the change counter moved."""
        db = self.db
        # Autocommit: one read, no BEGIN and ROLLBACK round trips around it.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.exec_driver_sql(
                "SELECT (SELECT sum(v) FROM search_version), docs, title_len, text_len,"
                " author_len, champions FROM search_stats WHERE id = 1"
            ).one()
        signature = ("postgres", db.url, int(row[0] or 0))
        view = self._view
        if view is not None and view.signature == signature:
            return view
        with self._lock:
            if self._view is not None and self._view.signature == signature:
                return self._view
            stats = Stats(*(int(x or 0) for x in row[1:]))
            with db.engine.connect() as conn:
                has_vectors = conn.exec_driver_sql(
                    "SELECT EXISTS (SELECT 1 FROM search_vectors WHERE model_id = %(m)s)",
                    {"m": self.model_id},
                ).scalar()
            self._view = PostgresView(
                db, signature, stats, self.model_id if has_vectors else None, DIM
            )
            return self._view
