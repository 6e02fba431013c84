"""Engine creation, migrations and dialect-specific helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url

from ..config import Settings
from .changes import notify_on_commit

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
    def begin(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads (autobegin; nothing is committed)."""
        with self.engine.connect() as conn:
            yield conn

    # -- migrations -------------------------------------------------------
    def _alembic_config(self, conn: Connection | None = None):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["connection"] = conn
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest revision (no-op when already there)."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        if current == heads:
            return
        with self.engine.begin() as conn:
            command.upgrade(self._alembic_config(conn), "head")

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
