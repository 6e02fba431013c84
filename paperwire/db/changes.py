"""A cheap "has the database changed?" signal that every process sharing it sees.

Page caches (``paperwire.web.cache``) keep rendered pages for a few seconds.
A process must drop them as soon as *any* process, or any app instance on
another machine, commits a change, or a viewer who hits another worker sees
an old page.  :func:`watch_changes` gives each process a number that moves
whenever the database may have changed; reading it costs microseconds, so a
cache can look at it on every request.

- **SQLite** (one machine): ``PRAGMA data_version`` on a connection of its own.
  SQLite changes it whenever another connection, in any process, commits.
  Nothing has to cooperate: the CLI, another ``paperwire serve`` and a raw
  ``sqlite3`` session are all seen, and only once they have committed.
- **PostgreSQL** (any number of machines): every transaction that ran an
  INSERT, UPDATE or DELETE sends ``NOTIFY paperwire_changes`` just before it
  commits (:func:`notify_on_commit`, installed by :class:`~.database.Database`
  on every engine); PostgreSQL delivers it only if the commit succeeds.  Each
  process keeps one connection that LISTENs on a daemon thread and counts
  what arrives.  If that connection is lost the counter moves too (a change
  may have been missed) and the thread reconnects.
"""

from __future__ import annotations

import itertools
import logging
import re
import sqlite3
import threading
import time
from typing import Any, Protocol

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "paperwire_changes"
_WROTE = "paperwire_wrote"
_DML_TEXT = re.compile(r"\s*(insert|update|delete|merge|truncate)\b", re.IGNORECASE)


class ChangeCounter(Protocol):
    """A number that differs from its last value whenever the database may have changed."""

    def value(self) -> int: ...

    def close(self) -> None: ...


# -- writers (PostgreSQL) --------------------------------------------------------------


def notify_on_commit(engine: Engine) -> None:
    """Make every write transaction on ``engine`` NOTIFY :data:`CHANNEL` as it commits."""
    event.listen(engine, "before_execute", _note_write)
    event.listen(engine, "before_cursor_execute", _note_text_write)
    event.listen(engine, "commit", _notify)
    event.listen(engine, "rollback", _forget)


def _note_write(conn: Any, clause: Any, *_args: Any) -> None:
    if getattr(clause, "is_dml", False):
        conn.info[_WROTE] = True


def _note_text_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if _WROTE not in conn.info and _DML_TEXT.match(statement):
        conn.info[_WROTE] = True


def _notify(conn: Any) -> None:
    """Runs just before the DBAPI commit, inside the transaction: sent only if it commits."""
    if conn.info.pop(_WROTE, False):
        conn.connection.dbapi_connection.execute(f"NOTIFY {CHANNEL}")


def _forget(conn: Any) -> None:
    conn.info.pop(_WROTE, None)


# -- readers ---------------------------------------------------------------------------


class _Never:
    """For an in-memory database, which no other process can change."""

    def value(self) -> int:
        return 0

    def close(self) -> None:
        pass


class _SqliteDataVersion:
    """``PRAGMA data_version`` of a private connection (changes on others' commits).

    Read at most once per :data:`FRESH_SECONDS`: every request asks, often
    from several threads at once, and a millisecond is far below anything a
    person could notice between two requests.
    """

    FRESH_SECONDS = 0.001

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._reopened = itertools.count()
        self._epoch = 0
        self._last = (-1.0, 0)

    def value(self) -> int:
        read_at, last = self._last
        if time.monotonic() - read_at < self.FRESH_SECONDS:
            return last
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(self._path, check_same_thread=False, timeout=5)
                    self._epoch = next(self._reopened) << 48  # a fresh connection: new numbers
                now = time.monotonic()
                value = self._epoch + self._conn.execute("PRAGMA data_version").fetchone()[0]
                self._last = (now, value)
                return value
            except sqlite3.Error:
                log.warning("cannot read the database's change counter", exc_info=True)
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                return -1 - next(self._reopened)  # never the same twice: caches clear

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None


class _PostgresListener:
    """Counts ``NOTIFY paperwire_changes`` on a LISTEN connection kept by a daemon thread."""

    RETRY_SECONDS = 1.0
    POLL_SECONDS = 1.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._count = 0
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def value(self) -> int:
        if self._thread is None:  # started on first use: in the worker, after any fork
            with self._lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="paperwire-listen", daemon=True
                    )
                    self._thread.start()
        return self._count

    def wait_listening(self, timeout: float) -> bool:
        """Whether the LISTEN is in place (tests and start-up checks)."""
        self.value()
        return self._listening.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.POLL_SECONDS + 5)

    def _bump(self) -> None:
        with self._lock:
            self._count += 1

    def _connect(self) -> Any:
        dialect = self._engine.dialect
        cargs, cparams = dialect.create_connect_args(self._engine.url)
        conn = dialect.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._connect()
                try:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._bump()  # anything may have changed while nobody listened
                    self._listening.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self.POLL_SECONDS):
                            self._bump()
                finally:
                    self._listening.clear()
                    conn.close()
            except Exception:
                if self._stop.is_set():
                    return
                log.warning("lost the database change listener; reconnecting", exc_info=True)
                self._bump()
                self._stop.wait(self.RETRY_SECONDS)


def watch_changes(engine: Engine) -> ChangeCounter:
    """A change counter for the database behind ``engine`` (close it when done)."""
    url = make_url(engine.url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return _Never()
        return _SqliteDataVersion(url.database)
    return _PostgresListener(engine)
