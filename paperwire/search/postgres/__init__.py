"""Search in PostgreSQL (server mode): the index lives in the database.

Migration 0008 creates the tables, text search configurations and triggers;
:class:`PostgresView` answers the shared engine's questions with SQL, and
:class:`PostgresSearch` is the :class:`~paperwire.search.backend.SearchBackend`
that :func:`~paperwire.search.backend.get_backend` picks for a PostgreSQL URL.
"""

from .search import PostgresSearch
from .sql import key_of
from .view import PostgresView

__all__ = ["PostgresSearch", "PostgresView", "key_of"]
