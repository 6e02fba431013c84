"""Named locks that hold across processes and machines sharing one database.

On PostgreSQL a lock is a session-level advisory lock, held on a connection of
its own for as long as the ``with`` block runs: every instance that shares the
database sees it, and it goes away by itself if the holder dies (the server
ends the session).  On SQLite, where every writer is on the same machine, it is
an exclusive ``flock`` on a file beside the database file, which the kernel
also releases when the holder dies.

Why not a row in a table: a row lock outlives a crashed holder unless someone
adds leases and clocks; these two primitives are released by the operating
system or the database server, so a ``kill -9`` never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:  # database.py uses these locks for migrations
    from .database import Database


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    digest = hashlib.blake2b(f"paperwire:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_path(db: Database, name: str) -> Path:
    database = make_url(db.url).database
    if not database or database == ":memory:":
        base = Path(os.environ.get("TMPDIR", "/tmp")) / f"paperwire-{os.getpid()}"
    else:
        base = Path(database).with_suffix("")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    path = Path(f"{base}.locks") / f"{safe}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def named_lock(
    db: Database, name: str, *, wait: bool = False, timeout: float | None = None
) -> Iterator[bool]:
    """Hold the lock ``name`` for the block; yields whether it was acquired.

    With ``wait=False`` the block runs at once with ``False`` when another
    holder has the lock (the caller skips its work).  With ``wait=True`` it
    blocks until the lock is free, or until ``timeout`` seconds have passed
    (then it yields ``False``).
    """
    if db.is_sqlite:
        with _file_lock(_lock_path(db, name), wait=wait, timeout=timeout) as got:
            yield got
        return
    key = lock_key(name)
    with db.engine.connect() as conn:
        got = _pg_acquire(conn, key, wait=wait, timeout=timeout)
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def _pg_acquire(conn, key: int, *, wait: bool, timeout: float | None) -> bool:  # type: ignore[no-untyped-def]
    if wait and timeout is None:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        return True
    deadline = time.monotonic() + (timeout or 0.0)
    while True:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        if got or not wait or time.monotonic() >= deadline:
            return got
        time.sleep(0.05)


@contextlib.contextmanager
def _file_lock(path: Path, *, wait: bool, timeout: float | None) -> Iterator[bool]:
    with open(path, "a+") as fh:
        got = _flock(fh.fileno(), wait=wait, timeout=timeout)
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _flock(fd: int, *, wait: bool, timeout: float | None) -> bool:
    if wait and timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + (timeout or 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not wait or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


@contextlib.contextmanager
def presence(db: Database, name: str) -> Iterator[None]:
    """Hold ``name`` while this process works on something, so others can see it is alive.

    For names only one process ever uses (an outbox sender's claim token): a
    claim whose owner's presence is gone (:func:`is_held` is False) belongs to a
    process that died, and can be taken over at once rather than when its lease
    runs out.  On SQLite the lock file is removed when the block ends.
    """
    with named_lock(db, name, wait=True, timeout=30) as got:
        if not got:
            raise RuntimeError(f"lock {name!r} is already held by another process")
        try:
            yield
        finally:
            if db.is_sqlite:
                _lock_path(db, name).unlink(missing_ok=True)


def is_held(db: Database, name: str, *, tidy: bool = False) -> bool:
    """Whether a live process holds the lock ``name`` (looked at, never taken).

    ``tidy``: when nobody holds it, remove its lock file (SQLite), which its
    holder left behind when it died.  Only for names of :func:`presence`, which
    nobody takes again once released.
    """
    if db.is_sqlite:
        path = _lock_path(db, name)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            if tidy:
                path.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)
    key = lock_key(name)
    # A bigint advisory lock shows in pg_locks as two 32-bit halves, objsubid 1.
    params = {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}
    with db.engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND objsubid = 1"
                    " AND classid::bigint = :hi AND objid::bigint = :lo"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database()))"
                ),
                params,
            ).scalar()
        )
