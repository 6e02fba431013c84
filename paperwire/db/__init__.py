"""Storage: the one place that knows SQLite from PostgreSQL.

Domain modules use SQLAlchemy Core against the tables in ``paperwire.db.schema``
and call :class:`Database` for connections and the few dialect-specific
statements (upserts).  Nothing outside this package writes dialect-specific SQL.
"""

from .database import Database, open_database

__all__ = ["Database", "open_database"]
