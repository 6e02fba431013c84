"""Storage: the one place that knows SQLite from PostgreSQL.

Domain modules use SQLAlchemy Core against the tables in ``paperwire.db.schema``
and call :class:`Database` for connections and the few dialect-specific
statements (upserts).  Nothing outside this package writes dialect-specific SQL.
"""

from collections.abc import Iterator, Sequence
from typing import TypeVar

from .database import Database, open_database

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``: keeps ``IN`` lists under the drivers' limits."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = ["Database", "chunks", "open_database"]
