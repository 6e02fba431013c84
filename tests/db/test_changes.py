"""The change counter page caches use: it moves on every committed write from anywhere.

On SQLite it is ``PRAGMA data_version``; on PostgreSQL it counts the NOTIFY that
every write transaction sends as it commits.  Both must see writes from another
process, and neither may move for a rolled-back transaction (PostgreSQL) or a
read.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select, text

from paperwire.db.changes import watch_changes
from paperwire.db.database import Database
from paperwire.db.schema.catalog import sync_state


def _moves(counter, action: Callable[[], None], wait: float = 10.0) -> bool:
    """Whether the counter moves within ``wait`` seconds of ``action`` (NOTIFY is async)."""
    before = counter.value()
    action()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if counter.value() != before:
            return True
        time.sleep(0.02)
    return False


def _row(key: str) -> dict:
    return {"key": key, "state": {}, "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}


def test_commits_move_the_counter_reads_and_rollbacks_do_not(database: Database) -> None:
    counter = watch_changes(database.engine)
    try:
        if hasattr(counter, "wait_listening"):
            assert counter.wait_listening(10)
        counter.value()

        def write() -> None:
            with database.begin() as conn:
                conn.execute(insert(sync_state).values(**_row("a")))

        def read() -> None:
            with database.connect() as conn:
                conn.execute(select(sync_state)).all()

        def rolled_back() -> None:
            with database.engine.connect() as conn:
                conn.execute(insert(sync_state).values(**_row("b")))
                conn.rollback()

        assert _moves(counter, write)
        assert not _moves(counter, read, wait=0.5)
        assert not _moves(counter, rolled_back, wait=0.5)

        def text_write() -> None:
            with database.begin() as conn:
                conn.execute(text("DELETE FROM sync_state WHERE key = 'a'"))

        assert _moves(counter, text_write)
    finally:
        counter.close()


def test_a_write_from_another_process_moves_the_counter(database: Database) -> None:
    counter = watch_changes(database.engine)
    try:
        if hasattr(counter, "wait_listening"):
            assert counter.wait_listening(10)
        code = (
            "import sys\n"
            "from datetime import UTC, datetime\n"
            "from sqlalchemy import insert\n"
            "from paperwire.db.database import Database\n"
            "from paperwire.db.schema.catalog import sync_state\n"
            "with Database(sys.argv[1]).begin() as conn:\n"
            "    conn.execute(insert(sync_state).values(key='other', state={},\n"
            "                 updated_at=datetime(2026, 1, 1, tzinfo=UTC)))\n"
        )
        assert _moves(
            counter,
            lambda: subprocess.run([sys.executable, "-c", code, database.url], check=True),
            wait=20,
        )
    finally:
        counter.close()
