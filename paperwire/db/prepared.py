"""Hot reads compiled once and run on a bare DBAPI cursor.

A logged-in page view runs one small query (the viewer's marks, see
:mod:`paperwire.accounts.marks`) whose SQLite execution takes tens of
microseconds; through a SQLAlchemy ``Connection`` the same query costs several
times that (the statement cache lookup, the expansion of its ``IN`` list,
result metadata and row objects).  :class:`PreparedRead` keeps the statement a
SQLAlchemy Core ``Select`` (one text for SQLite and PostgreSQL alike), compiles
it once per dialect and ``IN``-list length, and runs it on a pooled DBAPI
connection: the pool still checks connections out and back in (with its
pre-ping on PostgreSQL), only the execution layer is skipped.

For reads only, with parameters that need no bind processing (strings,
integers): nothing here writes, so the write hooks of :mod:`.changes` have
nothing to see.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select

from .database import Database

_MAX_SHAPES = 1024  # distinct (dialect, list length) pairs kept per statement


class _Origin:
    """Stands for one parameter while the expanded statement is worked out."""

    __slots__ = ("index", "name")

    def __init__(self, name: str, index: int | None = None) -> None:
        self.name = name
        self.index = index


class PreparedRead:
    """A ``Select`` with one expanding ``IN`` parameter, ready to run on a DBAPI cursor.

    ``expanding`` names the list parameter (a ``bindparam(..., expanding=True)``);
    the others are scalars passed by name to :meth:`rows`.
    """

    def __init__(self, statement: Select, expanding: str) -> None:
        self.statement = statement
        self.expanding = expanding
        self._shapes: dict[
            tuple[str, int], tuple[str, tuple[tuple[str, str, int | None], ...]]
        ] = {}
        self._lock = threading.Lock()

    def _shape(
        self, db: Database, size: int
    ) -> tuple[str, tuple[tuple[str, str, int | None], ...]]:
        """The SQL text for ``size`` list items and, per placeholder, where its value comes from."""
        key = (db.dialect, size)
        found = self._shapes.get(key)
        if found is not None:
            return found
        dialect = db.engine.dialect
        compiled = self.statement.compile(dialect=dialect)
        binds = list(compiled.binds.values())
        if any(b.type.bind_processor(dialect) is not None for b in binds):
            raise TypeError("PreparedRead takes only parameters that need no bind processing")
        names = {b.key for b in binds} - {self.expanding}
        origins: dict[str, Any] = {name: _Origin(name) for name in names}
        origins[self.expanding] = [_Origin(self.expanding, i) for i in range(size)]
        state = compiled.construct_expanded_state(origins)
        order = state.positiontup if dialect.positional else list(state.parameters)
        recipe = tuple(
            (key, state.parameters[key].name, state.parameters[key].index) for key in order
        )
        with self._lock:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = found = (state.statement, recipe)
        return found

    def rows(
        self,
        db: Database,
        params: Mapping[str, Any],
        values: Sequence[Any],
        *,
        own_connection: bool = False,
    ) -> list[tuple]:
        """All rows (plain tuples) for the scalars ``params`` and the list ``values``.

        ``own_connection``: on this thread's own connection
        (:meth:`~.database.Database.own_connection`, a local SQLite file only),
        not one from the pool: for a read on the event loop.
        """
        sql, recipe = self._shape(db, len(values))
        picked = [
            (key, params[name] if index is None else values[index]) for key, name, index in recipe
        ]
        args: Any = (
            tuple(value for _, value in picked) if db.engine.dialect.positional else dict(picked)
        )
        if own_connection:
            try:
                return _fetch_all(db.own_connection(), sql, args)
            except BaseException:
                db.drop_own_connection()
                raise
        conn = db.engine.raw_connection()
        try:
            return _fetch_all(conn, sql, args)
        finally:
            conn.close()


def _fetch_all(conn: Any, sql: str, args: Any) -> list[tuple]:
    cursor = conn.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall()
    finally:
        cursor.close()
