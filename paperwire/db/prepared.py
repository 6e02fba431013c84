"""Hot reads compiled once and run on a bare DBAPI cursor.

A page view runs a few small queries (a day's ranked ids, its cards and their
comment counts; a logged-in viewer's marks, see :mod:`paperwire.accounts.marks`)
whose SQLite execution takes tens of microseconds; through a SQLAlchemy
``Connection`` the same query costs several times that (the statement cache
lookup, the expansion of its ``IN`` list, result metadata and row objects).
:class:`PreparedRead` keeps the statement a SQLAlchemy Core ``Select`` (one
text for SQLite and PostgreSQL alike), compiles it once per dialect and ``IN``-list
length, and runs it on a pooled DBAPI connection: the pool still checks
connections out and back in (with its pre-ping on PostgreSQL), only the
execution layer is skipped.  Parameters and result columns go through the
dialect's own bind and result processors (a date as SQLite stores it, JSON
decoded), so rows hold what SQLAlchemy would have handed back.

For reads only: nothing here writes, so the write hooks of :mod:`.changes`
have nothing to see.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select

from .database import Database

_MAX_SHAPES = 1024  # distinct (dialect, list length) pairs kept per statement

Processor = Callable[[Any], Any] | None
_NONE = object()  # a parameter without a value of its own


class _Origin:
    """Stands for one parameter while the expanded statement is worked out."""

    __slots__ = ("index", "name")

    def __init__(self, name: str, index: int | None = None) -> None:
        self.name = name
        self.index = index


class _Shape:
    """One compiled text and how to fill its placeholders and read its rows."""

    __slots__ = ("positional", "recipe", "results", "sql")

    def __init__(
        self,
        sql: str,
        recipe: tuple[tuple[str, str, int | None, Processor, Any], ...],
        results: tuple[tuple[int, Callable[[Any], Any]], ...],
        positional: bool,
    ) -> None:
        self.sql = sql
        self.recipe = recipe
        self.results = results
        self.positional = positional


@contextmanager
def raw_connection(db: Database) -> Iterator[Any]:
    """A pooled DBAPI connection for several :meth:`PreparedRead.rows_on` in a row."""
    conn = db.engine.raw_connection()
    try:
        yield conn
    finally:
        conn.close()


class PreparedRead:
    """A ``Select``, ready to run on a DBAPI cursor.

    ``expanding`` names its list parameter (a ``bindparam(..., expanding=True)``),
    if it has one; the other parameters are scalars passed by name.
    """

    def __init__(self, statement: Select, expanding: str | None = None) -> None:
        self.statement = statement
        self.expanding = expanding
        self._shapes: dict[tuple[str, int], _Shape] = {}
        self._lock = threading.Lock()

    def _shape(self, db: Database, size: int) -> _Shape:
        """The SQL text for ``size`` list items and, per placeholder, where its value comes from."""
        key = (db.dialect, size)
        found = self._shapes.get(key)
        if found is not None:
            return found
        dialect = db.engine.dialect
        compiled = self.statement.compile(dialect=dialect)
        binds = {b.key: b for b in compiled.binds.values()}
        origins: dict[str, Any] = {name: _Origin(name) for name in binds}
        if self.expanding is not None:
            origins[self.expanding] = [_Origin(self.expanding, i) for i in range(size)]
        state = compiled.construct_expanded_state(origins)
        order = state.positiontup if dialect.positional else list(state.parameters)
        recipe = []
        for placeholder in order:
            origin = state.parameters[placeholder]
            bind = binds[origin.name]
            default = _NONE if bind.required else bind.effective_value  # a literal in the statement
            proc = _bind_processor(bind.type, dialect)
            recipe.append((placeholder, origin.name, origin.index, proc, default))
        results = tuple(
            (i, proc)
            for i, column in enumerate(self.statement.selected_columns)
            if (proc := column.type.dialect_impl(dialect).result_processor(dialect, None))
        )
        found = _Shape(state.statement, tuple(recipe), results, dialect.positional)
        with self._lock:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes[key] = found
        return found

    def rows(
        self,
        db: Database,
        params: Mapping[str, Any] | None = None,
        values: Sequence[Any] = (),
        *,
        own_connection: bool = False,
    ) -> list[tuple]:
        """All rows (plain tuples) for the scalars ``params`` and the list ``values``.

        ``own_connection``: on this thread's own connection
        (:meth:`~.database.Database.own_connection`, a local SQLite file only),
        not one from the pool: for a read on the event loop.
        """
        if own_connection:
            try:
                return self.rows_on(db, db.own_connection(), params, values)
            except BaseException:
                db.drop_own_connection()
                raise
        with raw_connection(db) as conn:
            return self.rows_on(db, conn, params, values)

    def rows_on(
        self,
        db: Database,
        conn: Any,
        params: Mapping[str, Any] | None = None,
        values: Sequence[Any] = (),
    ) -> list[tuple]:
        """:meth:`rows` on the DBAPI connection ``conn`` (see :func:`raw_connection`)."""
        shape = self._shape(db, len(values))
        params = params or {}
        picked = []
        for placeholder, name, index, proc, default in shape.recipe:
            if index is not None:
                value = values[index]
            elif default is _NONE or name in params:
                value = params[name]
            else:
                value = default
            picked.append((placeholder, value if proc is None else proc(value)))
        args: Any = tuple(v for _, v in picked) if shape.positional else dict(picked)
        cursor = conn.cursor()
        try:
            cursor.execute(shape.sql, args)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if not shape.results:
            return rows
        return [_processed(row, shape.results) for row in rows]


def _bind_processor(type_: Any, dialect: Any) -> Processor:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _processed(row: Sequence[Any], results: tuple[tuple[int, Callable[[Any], Any]], ...]) -> tuple:
    out = list(row)
    for i, proc in results:
        out[i] = proc(out[i])
    return tuple(out)
