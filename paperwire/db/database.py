"""Engine creation, migrations and dialect-specific helpers.

Everything that several instances sharing one database must agree on goes
through here: migrations (under a named lock), write transactions that read
first (``begin(immediate=True)``), ordering counters (:meth:`Database.next_seq`)
and the clock that leases are measured by (:meth:`Database.server_time`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ..config import Settings
from .changes import notify_on_commit
from .locks import lock_key, named_lock

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision under migrations/versions (tests/db/test_migrations.py checks
# it).  A database already there is opened without loading Alembic, a third of a
# command's start-up time.
SCHEMA_HEAD = "0010"
# How long a start waits for another instance's migration before giving up.
MIGRATE_WAIT = 900.0

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


class Database:
    """A migrated database behind one engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        in_memory = parsed.database in (None, "", ":memory:")
        self.is_local_file = self.dialect == "sqlite" and not in_memory  # see own_connection
        self._own = threading.local()
        self._owned: list[Any] = []
        self._owned_lock = threading.Lock()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            notify_on_commit(self.engine)  # other processes' page caches learn of writes

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def begin(self, *, immediate: bool = False) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success.

        ``immediate=True`` is for transactions that read, then write what they
        read (claiming a queue row): on SQLite it takes the database's write
        lock first (``BEGIN IMMEDIATE``), so no other writer slips in between;
        on PostgreSQL the caller's row locks (``FOR UPDATE``) do that, and it
        changes nothing.
        """
        with self.engine.connect() as conn, self.transaction(conn, immediate=immediate):
            yield conn

    @contextmanager
    def transaction(self, conn: Connection, *, immediate: bool = False) -> Iterator[Connection]:
        """One transaction on ``conn``, a connection a loop keeps for many of them.

        (A worker that commits after every message saves a pool checkout, and on
        PostgreSQL the liveness ping that comes with it, per transaction.)
        ``immediate`` as in :meth:`begin`.
        """
        if immediate and self.is_sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return
        with conn.begin():
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads (autobegin; nothing is committed)."""
        with self.engine.connect() as conn:
            yield conn

    def own_connection(self) -> Any:
        """This thread's own DBAPI connection to the SQLite file, for short reads on an event loop.

        Taken from the pool once per thread and kept, so such a read never waits for
        the pool, whose connections the worker threads hold.  Only for a local file
        (:attr:`is_local_file`): a read there takes microseconds and, in WAL mode,
        never waits for writers; a PostgreSQL read is a network round trip, which an
        event loop must not wait for.  After an error call :meth:`drop_own_connection`.
        """
        conn = getattr(self._own, "conn", None)
        if conn is None or not conn.is_valid:  # none yet, or closed by dispose()
            if not self.is_local_file:
                raise RuntimeError("own connections are for a local SQLite file only")
            conn = self._own.conn = self.engine.raw_connection()
            with self._owned_lock:
                self._owned.append(conn)
        return conn

    def drop_own_connection(self) -> None:
        """Close this thread's own connection (a later :meth:`own_connection` opens another)."""
        conn = getattr(self._own, "conn", None)
        if conn is not None:
            self._own.conn = None
            with self._owned_lock:
                if conn in self._owned:
                    self._owned.remove(conn)
            conn.invalidate()

    # -- migrations -------------------------------------------------------
    def _alembic_config(self, conn: Connection | None = None):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["connection"] = conn
        return cfg

    def _stored_revisions(self) -> set[str]:
        """The revisions in ``alembic_version``, read with plain SQL (empty if none yet)."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(text("SELECT version_num FROM alembic_version"))
                return {row[0] for row in rows}
        except DBAPIError:  # no such table: a new database
            return set()

    def _current_heads(self) -> set[str]:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())

    def migrate(self) -> None:
        """Bring the schema to the newest revision (no-op when already there).

        Many processes may start at once against one database (instances of a
        server-mode deployment, workers, a cron job): the upgrade runs under the
        named lock ``migrate`` (a PostgreSQL advisory lock; a file lock beside a
        SQLite file), and whoever gets it second finds the schema current.
        """
        if self._stored_revisions() == {SCHEMA_HEAD}:
            return
        from alembic import command
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
        if self._current_heads() == heads:
            return
        with named_lock(self, "migrate", wait=True, timeout=MIGRATE_WAIT) as got:
            if not got:
                raise RuntimeError(
                    f"another process has been migrating the database for {MIGRATE_WAIT:.0f} s; "
                    "check for a stuck `paperwire` process, then start again"
                )
            current = self._current_heads()
            if current == heads:
                return
            with self.engine.begin() as conn:
                command.upgrade(self._alembic_config(conn), "head")
            log.info("database migrated from %s to %s", sorted(current) or "empty", sorted(heads))

    # -- shared counters and clocks ----------------------------------------
    def next_seq(self, conn: Connection, column: Column) -> int:
        """This transaction's value of the ordering counter ``column`` (``papers.seq``).

        Call it first in the write transaction.  The rule it guarantees:
        **values become visible in the order they are handed out.**  A reader
        that has seen value N committed has therefore seen every smaller value
        that will ever commit, and may keep max(seq) as its high-water mark
        without skipping a transaction that committed late.  (Gaps are fine: a
        rolled-back transaction leaves one.)

        - PostgreSQL: a transaction-scoped advisory lock per counter, then
          ``nextval`` of a real sequence (``<table>_<column>_seq``).  The lock
          is released at COMMIT or ROLLBACK, after the transaction became
          visible, so writers of the counter commit one after another.
        - SQLite: the database's write lock (one writer at a time), then max+1.
        """
        table = column.table.name
        if self.is_sqlite:
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and not dbapi.in_transaction:
                # pysqlite opens a transaction only at the first DML statement, and
                # then holds the write lock: before that, take the lock ourselves.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            current = conn.execute(select(func.coalesce(func.max(column), 0))).scalar()
            return int(current or 0) + 1
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"seq:{table}.{column.name}")}
        )
        return int(conn.execute(text(f"SELECT nextval('{table}_{column.name}_seq')")).scalar_one())

    def server_time(self, conn: Connection) -> datetime:
        """The database server's clock, by which leases are measured.

        On PostgreSQL every instance then reads the same clock, whatever its
        host's says; on SQLite every process is on the database's own machine.
        """
        if self.is_sqlite:
            return datetime.now(UTC)
        return conn.execute(text("SELECT clock_timestamp()")).scalar_one()

    # -- dialect-specific statements ---------------------------------------
    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        key: Iterable[str],
        update: Iterable[str] | None = None,
    ) -> None:
        """Insert ``rows``; on a key conflict update ``update`` columns (or do nothing)."""
        if not rows:
            return
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table)
        keys = list(key)
        cols = list(update) if update is not None else []
        if cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=keys, set_={c: stmt.excluded[c] for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        conn.execute(stmt, list(rows))

    def dispose(self) -> None:
        with self._owned_lock:
            owned, self._owned = self._owned, []
        for conn in owned:
            conn.invalidate()
        self.engine.dispose()


_cache: dict[str, Database] = {}
_lock = threading.Lock()


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The process-wide :class:`Database` for ``settings``, migrated on first open."""
    with _lock:
        db = _cache.get(settings.database_url)
        if db is None:
            db = Database(settings.database_url)
            if migrate:
                db.migrate()
            _cache[settings.database_url] = db
        return db


def close_all() -> None:
    """Dispose every cached engine (tests switch homes between cases)."""
    with _lock:
        for db in _cache.values():
            db.dispose()
        _cache.clear()
